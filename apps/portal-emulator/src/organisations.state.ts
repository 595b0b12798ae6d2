import { EmulatorError } from './emulator.error.js';
import type { Organisation, Team, TeamInput, User } from './emulator.models.js';
import { DEFAULT_ORGANISATION_ID, EmulatorStore, defaultTeamName, isAdminRole } from './emulator.store.js';

/**
 * Organisations and teams of the emulated portal and the portal's rules for them (specs/tyk-portal.md
 * A.2): every organisation has a default team, the Default Organisation and default teams cannot
 * be deleted, and deleting one moves its users. Users are layered on top (users.state.ts).
 */
export class OrganisationsState extends EmulatorStore {
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
}
