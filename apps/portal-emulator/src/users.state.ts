import { EmulatorError } from './emulator.error.js';
import type { Team, User, UserInput } from './emulator.models.js';
import { ADMIN_ROLES, CONSUMER_ROLES, isAdminRole } from './emulator.store.js';
import { OrganisationsState } from './organisations.state.js';

const ROLES: readonly string[] = [...ADMIN_ROLES, ...CONSUMER_ROLES];

/**
 * Users of the emulated portal (the admin API's User-create/update/delete, specs/tyk-portal.md
 * A.2): email and role checks, organisation and team membership as the switchable contract says.
 * The SSO API is layered on top (emulator.state.ts).
 */
export class UsersState extends OrganisationsState {
  listUsers(): User[] {
    return [...this.users.values()];
  }

  getUser(id: number): User {
    const user = this.users.get(id);
    if (!user) throw new EmulatorError('not-found', 'User not found');
    return user;
  }

  protected checkEmail(email: string | undefined, self?: User): string {
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
    this.removeUser(this.getUser(id));
  }
}
