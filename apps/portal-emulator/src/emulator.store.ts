import { createHash } from 'node:crypto';
import type { Developer, Nonce, Organisation, Session, Team, User } from './emulator.models.js';
import { validateContract, type PortalContract } from './portal-contract.js';
import { randomToken } from './random-token.js';

/**
 * The emulated portal's records and the lookup indexes over them, and the only methods that
 * insert records or change an indexed field, so the maps and indexes stay in step. The rules
 * that act on the records are layered on top, one job per file: organisations and teams
 * (organisations.state.ts), users (users.state.ts), the SSO API and sessions (emulator.state.ts,
 * whose EmulatorState is the whole portal).
 */

export const DEFAULT_ORGANISATION_ID = 1;

export const ADMIN_ROLES = ['super-admin', 'provider-admin'] as const;
export const CONSUMER_ROLES = ['consumer-admin', 'consumer-team-member'] as const;

export const norm = (email: string) => email.trim().toLowerCase();

/** Default team names end in "All users" (E8), e.g. "Acme All users". */
export const defaultTeamName = (orgName: string) => `${orgName} All users`;

export const isAdminRole = (role: string) => (ADMIN_ROLES as readonly string[]).includes(role);

export class EmulatorStore {
  readonly orgs = new Map<number, Organisation>();
  readonly teams = new Map<number, Team>();
  readonly users = new Map<number, User>();
  /** Keyed by user id. */
  readonly developers = new Map<number, Developer>();
  /** Keyed by the nonce value. */
  readonly nonces = new Map<string, Nonce>();
  /** Keyed by the session cookie value. */
  readonly sessions = new Map<string, Session>();

  /**
   * Lookup indexes over `users` and `developers`, kept by the methods of this class (mutate the
   * state only through them). Emails are unique under `norm` (checkEmail and the SSO paths
   * guarantee it); SSO keys need not be (a PUT may copy another developer's key), so each key
   * maps to a set.
   */
  private readonly usersByEmail = new Map<string, User>();
  private readonly developersBySsoKey = new Map<string, Set<Developer>>();
  protected readonly developersById = new Map<string, Developer>();
  /** Switchable at any time (tests flip it between calls). */
  contract: PortalContract;

  private nextOrgId = 1;
  private nextTeamId = 1;
  private nextUserId = 1;
  private nextDeveloperSeq = 1;
  /** 16 hex digits drawn once from the token source (so a deterministic source gives deterministic ids). */
  private readonly developerIdPrefix: string;

  constructor(
    protected readonly nonceTtlMs: number,
    protected readonly now: () => number = Date.now,
    protected readonly token: (bytes: number) => string = randomToken,
    contract: Partial<PortalContract> = {},
  ) {
    this.contract = validateContract(contract);
    this.developerIdPrefix = createHash('sha256').update(this.token(12)).digest('hex').slice(0, 16);
    // The seed every portal starts with; recorded answers name its team "Default Organisation All users" (E1).
    const org = this.insertOrg('Default Organisation');
    this.insertTeam(org.ID, defaultTeamName(org.Name), true);
  }

  protected insertOrg(name: string): Organisation {
    const at = new Date(this.now());
    const org: Organisation = { ID: this.nextOrgId++, Name: name, CreatedAt: at, UpdatedAt: at };
    this.orgs.set(org.ID, org);
    return org;
  }

  protected insertTeam(orgId: number, name: string, isDefault: boolean): Team {
    const at = new Date(this.now());
    const team: Team = {
      ID: this.nextTeamId++,
      Name: name,
      OrganisationID: orgId,
      Default: isDefault,
      CreatedAt: at,
      UpdatedAt: at,
    };
    this.teams.set(team.ID, team);
    return team;
  }

  findUserByEmail(email: string): User | undefined {
    return this.usersByEmail.get(norm(email));
  }

  /** Every change of a user's email goes through here, so the email index stays right. */
  protected setEmail(user: User, email: string): void {
    const before = norm(user.Email);
    const after = norm(email);
    if (before !== after && this.usersByEmail.get(before) === user) this.usersByEmail.delete(before);
    user.Email = email;
    this.usersByEmail.set(after, user);
  }

  protected newUser(fields: Omit<User, 'ID' | 'JWTToken' | 'APITokenCreatedAt' | 'CreatedAt' | 'UpdatedAt'>): User {
    const at = new Date(this.now());
    const admin = isAdminRole(fields.Role);
    // Every field spelt out (no `...fields`): V8 then keeps them all in the object itself, and
    // reading users (every view, every login) is several times cheaper than on a spread copy.
    const user: User = {
      Email: fields.Email,
      First: fields.First,
      Last: fields.Last,
      Role: fields.Role,
      OrganisationID: fields.OrganisationID,
      Active: fields.Active,
      Provider: fields.Provider,
      ResetPassword: fields.ResetPassword,
      Teams: fields.Teams,
      ID: this.nextUserId++,
      // Admins carry an API credential (a JWT in the real portal); consumers have none.
      JWTToken: admin ? `${this.token(12)}.${this.token(24)}.${this.token(24)}` : '',
      APITokenCreatedAt: admin ? at.toISOString().slice(0, 10) : '',
      CreatedAt: at,
      UpdatedAt: at,
    };
    this.users.set(user.ID, user);
    this.usersByEmail.set(norm(user.Email), user);
    return user;
  }

  /** The first developer (in creation order) with this SSO key. */
  findDeveloperBySsoKey(ssoKey: string): Developer | undefined {
    const holders = ssoKey === '' ? undefined : this.developersBySsoKey.get(ssoKey);
    if (!holders) return undefined;
    if (holders.size === 1) return holders.values().next().value;
    for (const dev of this.developers.values()) {
      if (holders.has(dev)) return dev;
    }
    return undefined;
  }

  private unindexSsoKey(dev: Developer): void {
    const holders = this.developersBySsoKey.get(dev.ssoKey);
    if (!holders) return;
    holders.delete(dev);
    if (holders.size === 0) this.developersBySsoKey.delete(dev.ssoKey);
  }

  /** Every change of a developer's SSO key goes through here, so the key index stays right. */
  protected setSsoKey(dev: Developer, ssoKey: string): void {
    if (dev.ssoKey === ssoKey) return;
    this.unindexSsoKey(dev);
    dev.ssoKey = ssoKey;
    if (ssoKey === '') return;
    const holders = this.developersBySsoKey.get(ssoKey);
    if (holders) holders.add(dev);
    else this.developersBySsoKey.set(ssoKey, new Set([dev]));
  }

  protected developerFor(user: User): Developer {
    let dev = this.developers.get(user.ID);
    if (!dev) {
      // 24 hex digits like a Mongo ObjectID: a random 8-byte prefix and a counter, so unique.
      const id = `${this.developerIdPrefix}${(this.nextDeveloperSeq++).toString(16).padStart(8, '0')}`;
      dev = {
        id,
        userId: user.ID,
        ssoKey: '',
        dateCreated: new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        keys: {},
        subscriptions: {},
        fields: {},
      };
      this.developers.set(user.ID, dev);
      this.developersById.set(dev.id, dev);
    }
    return dev;
  }

  /** A user and everything indexed or kept for it: its email, its developer record, its sessions. */
  protected removeUser(user: User): void {
    this.users.delete(user.ID);
    if (this.usersByEmail.get(norm(user.Email)) === user) this.usersByEmail.delete(norm(user.Email));
    const developer = this.developers.get(user.ID);
    if (developer) {
      this.unindexSsoKey(developer);
      this.developersById.delete(developer.id);
    }
    this.developers.delete(user.ID);
    for (const [sid, session] of this.sessions) {
      if (session.userId === user.ID) this.sessions.delete(sid);
    }
  }
}
