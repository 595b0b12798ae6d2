import { createHash } from 'node:crypto';
import { EmulatorError } from './emulator.error.js';
import type {
  Developer,
  DeveloperInput,
  Nonce,
  Organisation,
  Session,
  SsoRequest,
  Team,
  TeamInput,
  User,
  UserInput,
} from './emulator.models.js';
import { validateContract, type PortalContract } from './portal-contract.js';
import { randomToken } from './random-token.js';

// Split by concern (issue 18): errors, records, the switchable contract and the token source live
// in their own files; re-exported here so every importer of emulator.state keeps working.
export { EmulatorError, type EmulatorErrorKind } from './emulator.error.js';
export type * from './emulator.models.js';
export { DEFAULT_CONTRACT, validateContract, type PortalContract } from './portal-contract.js';
export { randomToken } from './random-token.js';

/**
 * In-memory state of the emulated Enterprise Developer Portal and the rules the portal applies
 * to it (specs/tyk-portal.md A.2, A.3, B; specs/tib.md §5.2, §5.5). Controllers only translate
 * HTTP to these calls and EmulatorError kinds to each API surface's error shape. Over 300 lines
 * because organisations, users and the SSO API share one set of maps and lookup indexes that
 * every mutation keeps in step; the records, the errors, the contract and the token source are
 * in their own files.
 */

export const DEFAULT_ORGANISATION_ID = 1;
export const DEFAULT_TEAM_ID = 1;

export const ADMIN_ROLES = ['super-admin', 'provider-admin'] as const;
export const CONSUMER_ROLES = ['consumer-admin', 'consumer-team-member'] as const;
const ROLES: readonly string[] = [...ADMIN_ROLES, ...CONSUMER_ROLES];

/**
 * How long a nonce stays in `nonces` after it expired. An expired nonce is refused exactly like an
 * unknown one, so dropping it later changes no answer; it only keeps the map from growing forever.
 */
export const NONCE_RETENTION_MS = 60_000;
/** Expired nonces are swept once per this many new nonces (amortised, oldest first). */
const NONCE_SWEEP_EVERY = 256;

const norm = (email: string) => email.trim().toLowerCase();

/** Default team names end in "All users" (E8), e.g. "Acme All users". */
export const defaultTeamName = (orgName: string) => `${orgName} All users`;

export const isAdminRole = (role: string) => (ADMIN_ROLES as readonly string[]).includes(role);

export class EmulatorState {
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
   * Lookup indexes over `users` and `developers`, kept by the methods below (mutate the state only
   * through them). Emails are unique under `norm` (checkEmail and the SSO paths guarantee it);
   * SSO keys need not be (a PUT may copy another developer's key), so each key maps to a set.
   */
  private readonly usersByEmail = new Map<string, User>();
  private readonly developersBySsoKey = new Map<string, Set<Developer>>();
  private readonly developersById = new Map<string, Developer>();
  /** Switchable at any time (tests flip it between calls). */
  contract: PortalContract;
  private noncesSinceSweep = 0;

  private nextOrgId = 1;
  private nextTeamId = 1;
  private nextUserId = 1;
  private nextDeveloperSeq = 1;
  /** 16 hex digits drawn once from the token source (so a deterministic source gives deterministic ids). */
  private readonly developerIdPrefix: string;

  constructor(
    private readonly nonceTtlMs: number,
    private readonly now: () => number = Date.now,
    private readonly token: (bytes: number) => string = randomToken,
    contract: Partial<PortalContract> = {},
  ) {
    this.contract = validateContract(contract);
    this.developerIdPrefix = createHash('sha256').update(this.token(12)).digest('hex').slice(0, 16);
    // The seed every portal starts with; recorded answers name its team "Default Organisation All users" (E1).
    const org = this.insertOrg('Default Organisation');
    this.insertTeam(org.ID, defaultTeamName(org.Name), true);
  }

  // ---------------------------------------------------------------- organisations and teams

  private insertOrg(name: string): Organisation {
    const at = new Date(this.now());
    const org: Organisation = { ID: this.nextOrgId++, Name: name, CreatedAt: at, UpdatedAt: at };
    this.orgs.set(org.ID, org);
    return org;
  }

  private insertTeam(orgId: number, name: string, isDefault: boolean): Team {
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

  listOrgs(): Organisation[] {
    return [...this.orgs.values()];
  }

  getOrg(id: number): Organisation {
    const org = this.orgs.get(id);
    if (!org) throw new EmulatorError('not-found', 'Organisation not found');
    return org;
  }

  createOrg(name: string | undefined): Organisation {
    const trimmed = name?.trim() ?? '';
    if (!trimmed) throw new EmulatorError('invalid', 'Name is required');
    const org = this.insertOrg(trimmed);
    // A default team comes with every organisation (A.2), named "<Org> All users" (E8).
    this.insertTeam(org.ID, defaultTeamName(trimmed), true);
    return org;
  }

  renameOrg(id: number, name: string | undefined): Organisation {
    const org = this.getOrg(id);
    const trimmed = name?.trim() ?? '';
    if (!trimmed) throw new EmulatorError('invalid', 'Name is required');
    org.Name = trimmed;
    org.UpdatedAt = new Date(this.now());
    return org;
  }

  /** Users move to the Default Organisation (A.2); the Default Organisation itself cannot go. */
  deleteOrg(id: number): void {
    const org = this.getOrg(id);
    if (org.ID === DEFAULT_ORGANISATION_ID) {
      throw new EmulatorError('invalid', 'The Default Organisation cannot be deleted');
    }
    const target = this.defaultTeamOf(DEFAULT_ORGANISATION_ID);
    for (const user of this.users.values()) {
      if (user.OrganisationID === org.ID) {
        user.OrganisationID = DEFAULT_ORGANISATION_ID;
        user.Teams = [target.ID];
        user.UpdatedAt = new Date(this.now());
      }
    }
    for (const team of [...this.teams.values()]) {
      if (team.OrganisationID === org.ID) this.teams.delete(team.ID);
    }
    this.orgs.delete(org.ID);
  }

  defaultTeamOf(orgId: number): Team {
    for (const team of this.teams.values()) {
      if (team.OrganisationID === orgId && team.Default) return team;
    }
    throw new EmulatorError('not-found', `Organisation ${orgId} has no default team`);
  }

  teamsOf(orgId: number): Team[] {
    return [...this.teams.values()].filter((t) => t.OrganisationID === orgId);
  }

  usersOf(orgId: number): User[] {
    return [...this.users.values()].filter((u) => u.OrganisationID === orgId);
  }

  membersOf(teamId: number): User[] {
    return [...this.users.values()].filter((u) => u.Teams.includes(teamId));
  }

  getTeam(orgId: number, teamId: number): Team {
    this.getOrg(orgId);
    const team = this.teams.get(teamId);
    if (!team || team.OrganisationID !== orgId) throw new EmulatorError('not-found', 'Team not found');
    return team;
  }

  createTeam(orgId: number, name: string | undefined): Team {
    this.getOrg(orgId);
    const trimmed = name?.trim() ?? '';
    if (!trimmed) throw new EmulatorError('invalid', 'Name is required');
    return this.insertTeam(orgId, trimmed, false);
  }

  /** `Users`, when present, replaces the membership list (A.2). */
  updateTeam(orgId: number, teamId: number, input: TeamInput): Team {
    const team = this.getTeam(orgId, teamId);
    if (input.Name !== undefined && !input.Name.trim()) throw new EmulatorError('invalid', 'Name is required');
    if (input.Users !== undefined) {
      const wanted = new Set(input.Users);
      for (const id of wanted) {
        const user = this.users.get(id);
        if (!user) throw new EmulatorError('invalid', `User ${id} does not exist`);
        if (isAdminRole(user.Role)) throw new EmulatorError('invalid', `User ${id} is an admin and cannot join a team`);
        if (user.OrganisationID !== 0 && user.OrganisationID !== orgId) {
          throw new EmulatorError('invalid', `User ${id} belongs to another organisation`);
        }
      }
      const at = new Date(this.now());
      for (const user of this.users.values()) {
        const member = user.Teams.includes(team.ID);
        if (wanted.has(user.ID) && !member) {
          user.Teams = [...user.Teams, team.ID];
          user.OrganisationID = orgId;
          user.UpdatedAt = at;
        } else if (!wanted.has(user.ID) && member) {
          user.Teams = user.Teams.filter((t) => t !== team.ID);
          user.UpdatedAt = at;
        }
      }
    }
    if (input.Name !== undefined) team.Name = input.Name.trim();
    team.UpdatedAt = new Date(this.now());
    return team;
  }

  /** Members move to the organisation's default team; the default team cannot be deleted (A.2). */
  deleteTeam(orgId: number, teamId: number): void {
    const team = this.getTeam(orgId, teamId);
    if (team.Default) throw new EmulatorError('invalid', 'The default team cannot be deleted');
    const fallback = this.defaultTeamOf(orgId);
    for (const user of this.membersOf(team.ID)) {
      const rest = user.Teams.filter((t) => t !== team.ID);
      user.Teams = rest.includes(fallback.ID) ? rest : [...rest, fallback.ID];
      user.UpdatedAt = new Date(this.now());
    }
    this.teams.delete(team.ID);
  }

  // ---------------------------------------------------------------- users

  listUsers(): User[] {
    return [...this.users.values()];
  }

  getUser(id: number): User {
    const user = this.users.get(id);
    if (!user) throw new EmulatorError('not-found', 'User not found');
    return user;
  }

  findUserByEmail(email: string): User | undefined {
    return this.usersByEmail.get(norm(email));
  }

  /** Every change of a user's email goes through here, so the email index stays right. */
  private setEmail(user: User, email: string): void {
    const before = norm(user.Email);
    const after = norm(email);
    if (before !== after && this.usersByEmail.get(before) === user) this.usersByEmail.delete(before);
    user.Email = email;
    this.usersByEmail.set(after, user);
  }

  private checkEmail(email: string | undefined, self?: User): string {
    const trimmed = email?.trim() ?? '';
    if (!/^[^@\s]+@[^@\s]+$/.test(trimmed)) throw new EmulatorError('invalid', 'Email is invalid');
    const other = this.findUserByEmail(trimmed);
    if (other && other !== self) throw new EmulatorError('invalid', 'Email is already taken');
    return trimmed;
  }

  private checkRole(role: string | undefined): string {
    if (!role || !ROLES.includes(role)) throw new EmulatorError('invalid', `Role must be one of ${ROLES.join(', ')}`);
    return role;
  }

  private newUser(fields: Omit<User, 'ID' | 'JWTToken' | 'APITokenCreatedAt' | 'CreatedAt' | 'UpdatedAt'>): User {
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

  /**
   * `POST /users` (User-create). `Teams` is not part of User-create in the spec, so it is ignored:
   * a consumer lands in its organisation's default team. Booleans absent from the body are false,
   * as Go leaves them, so a user created without `Active:true` cannot sign in.
   */
  createUser(input: UserInput): User {
    const email = this.checkEmail(input.Email);
    const role = this.checkRole(input.Role);
    const orgId = input.OrganisationID ?? 0;
    if (isAdminRole(role) && orgId !== 0) throw new EmulatorError('invalid', 'Admin users have OrganisationID 0');
    if (orgId !== 0 && !this.orgs.has(orgId)) {
      throw new EmulatorError('invalid', `Organisation ${orgId} does not exist`);
    }
    return this.newUser({
      Email: email,
      First: input.First ?? '',
      Last: input.Last ?? '',
      Role: role,
      OrganisationID: orgId,
      Active: input.Active ?? false,
      Provider: input.Provider || 'password',
      ResetPassword: input.ResetPassword ?? false,
      Teams: orgId !== 0 ? [this.defaultTeamOf(orgId).ID] : [],
    });
  }

  /**
   * `PUT /users/{id}` (User-update): only the fields sent change. `Teams` replaces the membership
   * and must name teams of the user's (new) organisation; moving organisation without `Teams`
   * puts the user in the new organisation's default team. The spec answers 422 for "not found
   * or bad request" here, so an unknown id is `invalid`, not `not-found`.
   */
  updateUser(id: number, input: UserInput): User {
    const user = this.users.get(id);
    if (!user) throw new EmulatorError('invalid', 'User not found');
    const email = input.Email !== undefined ? this.checkEmail(input.Email, user) : user.Email;
    const role = input.Role !== undefined ? this.checkRole(input.Role) : user.Role;
    const admin = isAdminRole(role);
    let orgId = input.OrganisationID ?? (admin ? 0 : user.OrganisationID);
    if (admin && orgId !== 0) throw new EmulatorError('invalid', 'Admin users have OrganisationID 0');
    if (orgId !== 0 && !this.orgs.has(orgId)) {
      throw new EmulatorError('invalid', `Organisation ${orgId} does not exist`);
    }
    let teams = user.Teams;
    if (admin) {
      if (input.Teams?.length) throw new EmulatorError('invalid', 'Admin users cannot join teams');
      teams = [];
    } else if (input.Teams !== undefined) {
      const unique: number[] = [];
      for (const ref of new Set(input.Teams)) {
        const team = this.teamByRef(ref, orgId);
        if (!team) {
          // An id that names no team is refused; an entry in the other form follows the contract.
          const wrongForm = this.contract.teamsWrite === 'names' || !/^\d{1,15}$/.test(ref);
          if (!wrongForm || this.contract.unknownTeams === 'reject') {
            throw new EmulatorError('invalid', `Team ${ref} does not exist`);
          }
          continue;
        }
        if (input.OrganisationID === undefined && orgId === 0) orgId = team.OrganisationID;
        if (team.OrganisationID !== orgId) {
          throw new EmulatorError('invalid', `Team ${ref} does not belong to organisation ${orgId}`);
        }
        if (!unique.includes(team.ID)) unique.push(team.ID);
      }
      teams = unique;
    } else if (orgId !== user.OrganisationID) {
      teams = orgId !== 0 ? [this.defaultTeamOf(orgId).ID] : [];
    }
    if (email !== user.Email) this.setEmail(user, email);
    Object.assign(user, {
      First: input.First ?? user.First,
      Last: input.Last ?? user.Last,
      Role: role,
      OrganisationID: orgId,
      Active: input.Active ?? user.Active,
      Provider: input.Provider ?? user.Provider,
      ResetPassword: input.ResetPassword ?? user.ResetPassword,
      Teams: teams,
      UpdatedAt: new Date(this.now()),
    });
    return user;
  }

  /** A `Teams` entry in the write form the contract says (an id string, or a name within the organisation). */
  private teamByRef(ref: string, orgId: number): Team | undefined {
    if (this.contract.teamsWrite === 'ids') {
      return /^\d{1,15}$/.test(ref) ? this.teams.get(Number(ref)) : undefined;
    }
    const named = [...this.teams.values()].filter((t) => t.Name === ref);
    return named.find((t) => t.OrganisationID === orgId) ?? (orgId === 0 ? named[0] : undefined);
  }

  deleteUser(id: number): void {
    const user = this.getUser(id);
    this.users.delete(id);
    if (this.usersByEmail.get(norm(user.Email)) === user) this.usersByEmail.delete(norm(user.Email));
    const developer = this.developers.get(id);
    if (developer) {
      this.unindexSsoKey(developer);
      this.developersById.delete(developer.id);
    }
    this.developers.delete(id);
    for (const [sid, session] of this.sessions) {
      if (session.userId === id) this.sessions.delete(sid);
    }
  }

  // ---------------------------------------------------------------- SSO API (Dashboard-compatible)

  /**
   * `POST /api/sso`. An invalid team id makes the portal refuse the login (EDP-SSO: "the portal
   * will refuse login attempts if DefaultUserGroupID ... refers to an invalid team ID"). We refuse
   * here, at nonce creation, not later at `/sso`: it is the first thing the portal sees of the login,
   * and TIB turns a failed `/api/sso` into "Login failed" before the browser is sent anywhere, so no
   * nonce exists for a login the portal would reject. `/sso` checks again in case the team was
   * deleted in between.
   */
  createNonce(req: SsoRequest): Nonce {
    const section = req.ForSection;
    if (section !== 'portal' && section !== 'dashboard') {
      throw new EmulatorError('malformed', 'Request body malformed.');
    }
    const email = req.EmailAddress?.trim() ?? '';
    if (!email) throw new EmulatorError('malformed', 'Request body malformed.');
    const orgId = req.OrgID ?? '';
    // EDP admins are provider admins with no organisation: the profile must send OrgID "0".
    if (section === 'dashboard' && orgId !== '0') throw new EmulatorError('refused', 'SSO not enabled for org.');
    // E7: the EDP does not honour SSOOnlyForRegisteredUsers for developers ("portal"); the
    // Dashboard honours it for its users, so the emulator keeps it for "dashboard" only.
    if (section === 'dashboard' && req.SSOOnlyForRegisteredUsers && !this.findUserByEmail(email)) {
      throw new EmulatorError('refused', 'SSO is only allowed for registered users.');
    }
    const groupId = req.GroupID ?? '';
    if (section === 'portal' && groupId !== '') this.teamForGroup(groupId);
    const at = this.now();
    if (++this.noncesSinceSweep >= NONCE_SWEEP_EVERY) this.sweepNonces(at);
    const nonce: Nonce = {
      value: this.token(32),
      forSection: section,
      orgId,
      email,
      displayName: req.DisplayName?.trim() || email,
      groupId,
      groupIds: req.GroupsIDs ?? [],
      ssoOnlyForRegisteredUsers: req.SSOOnlyForRegisteredUsers ?? false,
      createdAt: at,
      expiresAt: at + this.nonceTtlMs,
    };
    this.nonces.set(nonce.value, nonce);
    return nonce;
  }

  /** Drops nonces that expired more than NONCE_RETENTION_MS ago; the map is in creation order. */
  private sweepNonces(at: number): void {
    this.noncesSinceSweep = 0;
    for (const [value, nonce] of this.nonces) {
      if (nonce.expiresAt + NONCE_RETENTION_MS >= at) break;
      this.nonces.delete(value);
    }
  }

  private teamForGroup(groupId: string): Team {
    const team = /^\d+$/.test(groupId) ? this.teams.get(Number(groupId)) : undefined;
    if (!team) throw new EmulatorError('refused', `Login refused: team ${groupId} does not exist.`);
    return team;
  }

  /** A nonce the developer endpoints may use: known, unexpired, not yet consumed by `/sso`, for developers. */
  private liveDeveloperNonce(value: string | undefined): Nonce {
    const nonce = value ? this.nonces.get(value) : undefined;
    if (!nonce || nonce.usedAt !== undefined || this.now() > nonce.expiresAt || nonce.forSection !== 'portal') {
      throw new EmulatorError('invalid', 'Invalid or missing nonce.');
    }
    return nonce;
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
  private setSsoKey(dev: Developer, ssoKey: string): void {
    if (dev.ssoKey === ssoKey) return;
    this.unindexSsoKey(dev);
    dev.ssoKey = ssoKey;
    if (ssoKey === '') return;
    const holders = this.developersBySsoKey.get(ssoKey);
    if (holders) holders.add(dev);
    else this.developersBySsoKey.set(ssoKey, new Set([dev]));
  }

  private developerFor(user: User): Developer {
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

  private createSsoConsumer(email: string, displayName: string): User {
    const space = displayName.indexOf(' ');
    return this.newUser({
      Email: email,
      First: space === -1 ? displayName : displayName.slice(0, space),
      Last: space === -1 ? '' : displayName.slice(space + 1),
      Role: 'consumer-admin',
      OrganisationID: 0,
      Active: true,
      Provider: 'sso',
      ResetPassword: false,
      Teams: [],
    });
  }

  /**
   * Team assignment happens only while the account has no team (B, stage 2): the nonce's team; the
   * organisation follows the team. With no team sent the user gets no team or organisation (E8).
   */
  private assignTeamIfNone(user: User, nonce: Nonce): void {
    if (user.Teams.length > 0 || nonce.groupId === '') return;
    const team = this.teamForGroup(nonce.groupId);
    user.Teams = [team.ID];
    user.OrganisationID = team.OrganisationID;
    user.UpdatedAt = new Date(this.now());
  }

  private applyDeveloperFields(dev: Developer, input: DeveloperInput): void {
    if (input.keys) dev.keys = input.keys;
    if (input.subscriptions) dev.subscriptions = input.subscriptions;
    if (input.fields) dev.fields = input.fields;
  }

  /**
   * `POST /api/portal/developers`: the EDP account rule (A.3 step 5): match the SSO key, else the
   * email (and link the SSO key), else create a Consumer Admin; then assign a team if it has none.
   */
  createDeveloper(input: DeveloperInput): { user: User; developer: Developer; created: boolean } {
    const nonce = this.liveDeveloperNonce(input.nonce);
    const ssoKey = input.sso_key ?? '';
    const email = input.email?.trim() || nonce.email;
    let created = false;
    const byKey = ssoKey ? this.findDeveloperBySsoKey(ssoKey) : undefined;
    let user = byKey ? this.users.get(byKey.userId) : undefined;
    if (!user) user = this.findUserByEmail(email);
    if (user && isAdminRole(user.Role)) throw new EmulatorError('refused', 'This account is an admin account.');
    if (!user) {
      // SSOOnlyForRegisteredUsers is not honoured for developers (E7): the account is created.
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new EmulatorError('invalid', 'Email is invalid');
      user = this.createSsoConsumer(email, nonce.displayName);
      created = true;
    }
    const developer = this.developerFor(user);
    if (ssoKey) this.setSsoKey(developer, ssoKey);
    this.applyDeveloperFields(developer, input);
    this.assignTeamIfNone(user, nonce);
    nonce.userId = user.ID;
    return { user, developer, created };
  }

  /** `PUT /api/portal/developers/{id}`: TIB sends the fetched developer back with a fresh nonce. */
  updateDeveloper(id: string, input: DeveloperInput): { user: User; developer: Developer } {
    const known = this.developersById.get(id);
    const user = known ? this.users.get(known.userId) : undefined;
    if (!user || isAdminRole(user.Role)) throw new EmulatorError('not-found', 'Developer not found');
    const nonce = this.liveDeveloperNonce(input.nonce);
    const email = input.email?.trim();
    if (email && norm(email) !== norm(user.Email)) this.setEmail(user, this.checkEmail(email, user));
    const developer = this.developerFor(user);
    if (input.sso_key) this.setSsoKey(developer, input.sso_key);
    this.applyDeveloperFields(developer, input);
    this.assignTeamIfNone(user, nonce);
    user.UpdatedAt = new Date(this.now());
    nonce.userId = user.ID;
    return { user, developer };
  }

  /**
   * `GET /sso?nonce=`: consumes the nonce (single use, within its lifetime) and opens a session
   * for the account it carries: the one the developer endpoints tied to it, else the account with
   * its email, else a new one (Consumer Admin for "portal", Provider Admin for "dashboard").
   */
  login(value: string | undefined): { session: Session; user: User } {
    const nonce = value ? this.nonces.get(value) : undefined;
    if (!nonce || nonce.usedAt !== undefined || this.now() > nonce.expiresAt) {
      throw new EmulatorError('unauthorised', 'The sign-in link is invalid, expired or already used.');
    }
    nonce.usedAt = this.now();
    let user = nonce.userId !== undefined ? this.users.get(nonce.userId) : undefined;
    user ??= this.findUserByEmail(nonce.email);
    if (nonce.forSection === 'portal') {
      if (user && isAdminRole(user.Role)) throw new EmulatorError('refused', 'This account is an admin account.');
      if (!user) user = this.createSsoConsumer(nonce.email, nonce.displayName);
      this.assignTeamIfNone(user, nonce);
    } else {
      if (user && !isAdminRole(user.Role)) throw new EmulatorError('refused', 'This account is not an admin account.');
      if (!user) {
        if (nonce.ssoOnlyForRegisteredUsers) {
          throw new EmulatorError('refused', 'SSO is only allowed for registered users.');
        }
        const space = nonce.displayName.indexOf(' ');
        user = this.newUser({
          Email: nonce.email,
          First: space === -1 ? nonce.displayName : nonce.displayName.slice(0, space),
          Last: space === -1 ? '' : nonce.displayName.slice(space + 1),
          Role: 'provider-admin',
          OrganisationID: 0,
          Active: true,
          Provider: 'sso',
          ResetPassword: false,
          Teams: [],
        });
      }
    }
    if (!user.Active) throw new EmulatorError('refused', 'This account is not active.');
    nonce.userId = user.ID;
    const session: Session = { id: this.token(32), userId: user.ID, createdAt: this.now() };
    this.sessions.set(session.id, session);
    return { session, user };
  }

  sessionUser(sessionId: string | undefined): User | undefined {
    const session = sessionId ? this.sessions.get(sessionId) : undefined;
    const user = session ? this.users.get(session.userId) : undefined;
    // A user deactivated after signing in is signed out: the portal checks Active on every request.
    return user?.Active ? user : undefined;
  }
}
