import { EmulatorError } from './emulator.error.js';
import type { Developer, DeveloperInput, Nonce, Session, SsoRequest, Team, User } from './emulator.models.js';
import { isAdminRole, norm } from './emulator.store.js';
import { UsersState } from './users.state.js';

// Split by job (issue 18): the records and their indexes (emulator.store.ts), organisations and
// teams (organisations.state.ts), users (users.state.ts) and, here, the SSO API; errors, records,
// the switchable contract and the token source live in their own files. What other files import
// from emulator.state is re-exported here.
export { EmulatorError, type EmulatorErrorKind } from './emulator.error.js';
export type * from './emulator.models.js';
export { DEFAULT_CONTRACT, validateContract, type PortalContract } from './portal-contract.js';
export { randomToken } from './random-token.js';

/**
 * How long a nonce stays in `nonces` after it expired. An expired nonce is refused exactly like an
 * unknown one, so dropping it later changes no answer; it only keeps the map from growing forever.
 */
export const NONCE_RETENTION_MS = 60_000;
/** Expired nonces are swept once per this many new nonces (amortised, oldest first). */
const NONCE_SWEEP_EVERY = 256;

/**
 * In-memory state of the emulated Enterprise Developer Portal and the rules the portal applies
 * to it (specs/tyk-portal.md A.2, A.3, B; specs/tib.md §5.2, §5.5). Controllers only translate
 * HTTP to these calls and EmulatorError kinds to each API surface's error shape. This file adds
 * the SSO API (Dashboard-compatible nonces, the developer endpoints TIB calls, `/sso` sessions)
 * to the users, organisations and teams of the layers below.
 */
export class EmulatorState extends UsersState {
  private noncesSinceSweep = 0;

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
    // An admin is never put in a team (A.2: OrganisationID 0, no teams), whatever the nonce says.
    if (user.Teams.length > 0 || nonce.groupId === '' || isAdminRole(user.Role)) return;
    const team = this.teamForGroup(nonce.groupId);
    user.Teams = [team.ID];
    user.OrganisationID = team.OrganisationID;
    user.UpdatedAt = new Date(this.now());
  }

  /**
   * A developer SSO that names an admin account: the real portal's answer is unknown, so the
   * contract's `adminDeveloperSso` decides. `refuse` throws (`kind`: how the route says it);
   * `login` lets the account through as the admin it is (assignTeamIfNone leaves admins alone).
   */
  private checkAdminDeveloperSso(user: User, kind: 'refused' | 'not-found'): void {
    if (!isAdminRole(user.Role) || this.contract.adminDeveloperSso === 'login') return;
    throw kind === 'refused'
      ? new EmulatorError('refused', 'This account is an admin account.')
      : new EmulatorError('not-found', 'Developer not found');
  }

  private applyDeveloperFields(dev: Developer, input: DeveloperInput): void {
    if (input.keys) dev.keys = input.keys;
    if (input.subscriptions) dev.subscriptions = input.subscriptions;
    if (input.fields) dev.fields = input.fields;
  }

  /**
   * `GET /api/portal/developers/ssokey/{key}`: the developer with that SSO key. An admin account
   * linked to one (possible only under `adminDeveloperSso: login`) is not served under `refuse`.
   */
  developerBySsoKey(ssoKey: string): { user: User; developer: Developer } {
    const developer = this.findDeveloperBySsoKey(ssoKey);
    const user = developer ? this.users.get(developer.userId) : undefined;
    if (!developer || !user) throw new EmulatorError('not-found', 'Developer not found');
    this.checkAdminDeveloperSso(user, 'not-found');
    return { user, developer };
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
    if (user) this.checkAdminDeveloperSso(user, 'refused');
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
    if (!user) throw new EmulatorError('not-found', 'Developer not found');
    this.checkAdminDeveloperSso(user, 'not-found');
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
      if (user) this.checkAdminDeveloperSso(user, 'refused');
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

  /**
   * The user an open session belongs to. Whether a user deactivated after signing in keeps the
   * session is unknown (A.2 documents `Active` only for logging in): `deactivationEndsSessions`
   * decides. A deleted user's session ends either way (there is no user to serve).
   */
  sessionUser(sessionId: string | undefined): User | undefined {
    const session = sessionId ? this.sessions.get(sessionId) : undefined;
    const user = session ? this.users.get(session.userId) : undefined;
    if (user && !user.Active && this.contract.deactivationEndsSessions) return undefined;
    return user;
  }
}
