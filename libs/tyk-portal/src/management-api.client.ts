// The client of the portal's management API (users, organisations, teams); its HTTP and paging
// are in portal-admin-api.ts. The SSO API and the developer API have their own clients; HTTP and
// decoding are in tyk-http.ts and tyk-portal.codec.ts.
import { DomainError, getCaseInsensitive, isPlainObject } from '@app/common';
import { portalConfig, type PortalConfig } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_PER_PAGE, PortalAdminApi, refusedInput, type Req } from './portal-admin-api.js';
import { decodeOrganisation, decodeTeam, decodeUser, portalIdValue } from './tyk-portal.codec.js';
import { malformed, parseJson, statusError, TykHttp } from './tyk-http.js';
import type {
  PortalOrganisation,
  PortalOrganisationDetail,
  PortalTeam,
  PortalUser,
  PortalUserUpdate,
} from './tyk-portal.types.js';

/** What `Teams` on `PUT /portal-api/users/{id}` carries: team ids or team names, always as strings (E1). */
export type TeamsWriteForm = 'ids' | 'names';

/** How {@link TykManagementApiClient.setUserActive} is to treat the user it reads. */
export interface SetUserActiveOptions {
  /** Checked on the last read before the write: false leaves the user alone (`refused`). */
  accept?: (user: PortalUser) => boolean;
  /**
   * Awaited before every portal call of the step (each team-list page, the read, each write), so a
   * caller holding a lease can renew and check it between calls; what it throws ends the step.
   */
  checkpoint?: () => Promise<void>;
}

/** What {@link TykManagementApiClient.setUserActive} found and did, with the user as last read or written. */
export type SetUserActiveResult =
  { outcome: 'not_found'; user: null } | { outcome: 'refused' | 'unchanged' | 'changed'; user: PortalUser };

/** A team of the user's, as read (`ref`: a name, E1) and as found in the organisation's team list. */
interface HeldTeam {
  ref: string;
  team: PortalTeam | undefined;
}

const noCheckpoint = () => Promise.resolve();

/**
 * The portal's management API (`/portal-api`, the raw admin token): users, organisations and
 * teams, for organisation sync and the user directory. Lists are walked page by page.
 */
@Injectable()
export class TykManagementApiClient extends PortalAdminApi {
  /** Per portal base URL: the `Teams` write form a user update proved (E1). */
  private readonly teamsForms = new Map<string, TeamsWriteForm>();
  /** Portal base URLs that refused a `Teams` list holding both forms (setUserActive's safe write). */
  private readonly bothFormsRefused = new Set<string>();

  constructor(http: TykHttp, @Inject(portalConfig.KEY) config: PortalConfig) {
    super(http, config);
  }

  /** `GET /portal-api/users`, every page. */
  async listUsers(perPage = DEFAULT_PER_PAGE): Promise<PortalUser[]> {
    return this.listAll('/portal-api/users', '/portal-api/users', decodeUser, perPage);
  }

  /**
   * One page of `GET /portal-api/users` (page numbers from 1; empty past the end), for callers that
   * walk the list lazily (PortalUserDirectory).
   */
  async listUsersPage(page: number, perPage = DEFAULT_PER_PAGE): Promise<PortalUser[]> {
    return (await this.page('/portal-api/users', '/portal-api/users', perPage, page)).map(decodeUser);
  }

  /** Walks `/portal-api/users` page by page until a user matches; stops there. */
  async findUser(predicate: (user: PortalUser) => boolean, perPage = DEFAULT_PER_PAGE): Promise<PortalUser | null> {
    for await (const { items } of this.pages('/portal-api/users', '/portal-api/users', perPage)) {
      const found = items.map(decodeUser).find(predicate);
      if (found) return found;
    }
    return null;
  }

  /**
   * The portal user id for an email (case-insensitive), walking the whole users list; null if
   * none. The login path uses PortalUserDirectory instead, which bounds the work per login.
   */
  async findUserIdByEmail(email: string, perPage = DEFAULT_PER_PAGE): Promise<string | null> {
    const wanted = email.trim().toLowerCase();
    const user = await this.findUser((u) => u.Email.trim().toLowerCase() === wanted, perPage);
    return user?.ID ?? null;
  }

  /** `GET /portal-api/users/{id}`; null when the portal answers 404. */
  async getUser(id: string): Promise<PortalUser | null> {
    const req: Req = {
      target: 'portal',
      method: 'GET',
      path: `/portal-api/users/${encodeURIComponent(id)}`,
      endpoint: '/portal-api/users/:id',
      idempotent: true,
    };
    const res = await this.admin(req);
    if (res.status === 404) return null;
    if (res.status !== 200) throw statusError(req, res.status);
    const parsed = parseJson(req, res);
    if (!isPlainObject(parsed)) throw malformed(req, 'expected a user object');
    return decodeUser(parsed);
  }

  /**
   * `PUT /portal-api/users/{id}` (`User-update`); returns the updated user. `update.Teams` holds
   * team ids; they go out as strings (E1), as ids or as names depending on the portal version.
   * Until a write has shown which, the broker sends ids, reads the user back and, when the team is
   * not among the user's, sends names (or the other way round); the form that worked is remembered
   * for this portal. A remembered form that stops working (the portal was upgraded, E1) is
   * forgotten and the other form tried once. Throws portal_rejected when neither form puts the
   * user in the teams.
   */
  async updateUser(id: string, update: PortalUserUpdate): Promise<PortalUser> {
    const wanted = [...new Set(update.Teams)];
    if (wanted.length === 0) return this.putUser(id, update, []);
    return this.writeTeamsByForm(id, update, wanted, await this.teamCatalogue(update.OrganisationID), noCheckpoint);
  }

  /** updateUser's form settling (ids or names, one form per write), against a team list already read. */
  private async writeTeamsByForm(
    id: string,
    update: PortalUserUpdate,
    wanted: string[],
    catalogue: PortalTeam[],
    checkpoint: () => Promise<void>,
  ): Promise<PortalUser> {
    const portal = this.http.baseUrl('portal');
    const known = this.teamsForms.get(portal);
    const forms: TeamsWriteForm[] = known === 'names' ? ['names', 'ids'] : ['ids', 'names'];
    const nameOf = (teamId: string) => catalogue.find((t) => t.ID === teamId)?.Name;
    const joined = (user: PortalUser) =>
      wanted.every((teamId) => user.Teams.includes(teamId) || user.Teams.includes(nameOf(teamId) ?? '\u0000'));
    let lastError: unknown = null;
    for (const form of forms) {
      const refs = form === 'ids' ? wanted : wanted.map((teamId) => nameOf(teamId));
      if (refs.some((r) => r === undefined)) continue;
      let user: PortalUser;
      try {
        await checkpoint();
        user = await this.putUser(id, update, refs as string[]);
      } catch (error) {
        // A 400/422 may be the portal refusing teams in the form it does not take: try the other.
        // A 5xx is thrown (the caller retries): the other form on a portal that ignores entries in
        // the wrong form would take the user out of its teams.
        if (refusedInput(error)) {
          lastError = error;
          this.forgetForm(portal, form);
          continue;
        }
        throw error;
      }
      if (!joined(user)) {
        await checkpoint();
        user = (await this.getUser(id)) ?? user;
      }
      if (joined(user)) {
        if (this.teamsForms.get(portal) !== form) {
          this.teamsForms.set(portal, form);
          this.logger.log(`the portal takes Teams as team ${form} on user updates; remembered`);
        }
        return user;
      }
      this.forgetForm(portal, form);
    }
    throw new DomainError(
      'portal_rejected',
      `portal did not put user ${id} in team(s) ${wanted.join(', ')} with Teams as ${forms.join(' or ')}`,
      { target: 'portal', endpoint: '/portal-api/users/:id', teams: wanted },
      { cause: lastError ?? undefined },
    );
  }

  /**
   * Sets `Active` on a portal user (deprovisioning) and changes nothing else. The user is read,
   * its organisation's team list, then the user again, right before the write (the last
   * read before it: a role or team change made meanwhile is written back as it now is, not
   * reverted), and the user is written back as read but for `Active`.
   *
   * `Teams` goes out in both forms at once, each team as its id and as its name (E1): a portal that
   * takes one form joins the user to the same teams whether it ignores or refuses entries in the
   * other (the two behaviours E13 leaves open). A single guessed form on a portal that ignores the
   * other would take the user out of every team in the same write that changes `Active`, and a
   * retry would then find `Active` already set and the teams gone with no way to tell. Since no
   * write made here can drop the teams that way, a user already in the wanted state is done.
   * A portal that refuses the combined list (400/422: nothing written) is remembered and written
   * one form at a time, as updateUser does; there a wrong form is refused too, so nothing is lost.
   * Only when a team's id is another team's name (or a name looks like another team's id) is the
   * combined list ambiguous; then the forms go one at a time, as before.
   */
  async setUserActive(id: string, active: boolean, options: SetUserActiveOptions = {}): Promise<SetUserActiveResult> {
    const checkpoint = options.checkpoint ?? noCheckpoint;
    let catalogueOrg: string | null = null;
    let catalogue: PortalTeam[] = [];
    // The organisation may change between the team list and the read: read both again (bounded).
    for (let round = 0; round < 3; round++) {
      await checkpoint();
      const user = await this.getUser(id);
      if (!user) return { outcome: 'not_found', user: null };
      if (options.accept && !options.accept(user)) return { outcome: 'refused', user };
      if (user.Active === active) return { outcome: 'unchanged', user };
      if (user.Teams.length > 0 && catalogueOrg !== user.OrganisationID) {
        // The organisation's team list, then the user read again: the last read before the write.
        catalogue = await this.teamCatalogue(user.OrganisationID, checkpoint);
        catalogueOrg = user.OrganisationID;
        continue;
      }
      const held = user.Teams.map((ref) => ({
        ref,
        team: catalogue.find((t) => t.ID === ref) ?? catalogue.find((t) => t.Name === ref),
      }));
      const written = await this.writeActive(id, { ...user, Active: active }, held, catalogue, checkpoint);
      return { outcome: 'changed', user: written };
    }
    throw new DomainError(
      'portal_rejected',
      `portal user ${id} kept changing organisation while its Active was being set; not written`,
      { target: 'portal', endpoint: '/portal-api/users/:id' },
    );
  }

  /** setUserActive's write: `update` carries the new `Active`, `held` the user's teams as read. */
  private async writeActive(
    id: string,
    update: PortalUserUpdate,
    held: HeldTeam[],
    catalogue: PortalTeam[],
    checkpoint: () => Promise<void>,
  ): Promise<PortalUser> {
    if (held.length === 0) {
      await checkpoint();
      return this.putUser(id, update, []);
    }
    const portal = this.http.baseUrl('portal');
    const ids = held.flatMap((h) => (h.team ? [h.team.ID] : []));
    // A team missing from the list (deleted meanwhile) goes out as read, a name.
    const names = held.map((h) => h.team?.Name ?? h.ref);
    const joined = (user: PortalUser) =>
      held.every((h) => user.Teams.includes(h.ref) || (h.team !== undefined && user.Teams.includes(h.team.ID)));
    const ambiguous =
      names.some((n) => /^\d+$/.test(n) && !ids.includes(n)) ||
      catalogue.some((t) => ids.includes(t.Name) && !ids.includes(t.ID));
    if (!ambiguous && !this.bothFormsRefused.has(portal)) {
      try {
        await checkpoint();
        const user = await this.putUser(id, update, [...new Set([...ids, ...names])]);
        if (joined(user)) return user;
        this.logger.error(
          `portal user ${id}: Teams in both forms did not keep the user in its teams; writing them one form at a time`,
        );
      } catch (error) {
        if (!refusedInput(error)) throw error;
        this.bothFormsRefused.add(portal);
        this.logger.warn('the portal refuses Teams in both forms at once; user updates send one form at a time');
      }
    }
    const teamIds = held.map((h) => h.team?.ID ?? h.ref);
    return this.writeTeamsByForm(id, { ...update, Teams: teamIds }, [...new Set(teamIds)], catalogue, checkpoint);
  }

  /** `DELETE /portal-api/users/{id}`; 'not_found' when the portal has no such user (already gone). */
  async deleteUser(id: string): Promise<'deleted' | 'not_found'> {
    const req: Req = {
      target: 'portal',
      method: 'DELETE',
      path: `/portal-api/users/${encodeURIComponent(id)}`,
      endpoint: '/portal-api/users/:id',
      idempotent: true,
    };
    const res = await this.admin(req);
    if (res.status === 404) return 'not_found';
    if (res.status !== 200 && res.status !== 204) throw statusError(req, res.status);
    return 'deleted';
  }

  /** The write form of `Teams` this portal has shown it takes, or null while unknown. */
  teamsWriteForm(): TeamsWriteForm | null {
    try {
      return this.teamsForms.get(this.http.baseUrl('portal')) ?? null;
    } catch {
      return null;
    }
  }

  /** A remembered form that just failed is no longer believed (E1: it changed between versions). */
  private forgetForm(portal: string, form: TeamsWriteForm): void {
    if (this.teamsForms.get(portal) !== form) return;
    this.teamsForms.delete(portal);
    this.logger.warn(`the portal no longer takes Teams as team ${form} on user updates; trying the other form`);
  }

  /** The organisation's teams (none without an organisation); `checkpoint` as in listTeams. */
  private async teamCatalogue(orgId: string, checkpoint?: () => Promise<void>): Promise<PortalTeam[]> {
    if (orgId === '' || orgId === '0') return [];
    return this.listTeams(orgId, DEFAULT_PER_PAGE, checkpoint);
  }

  private async putUser(id: string, update: PortalUserUpdate, teams: string[]): Promise<PortalUser> {
    const req: Req = {
      target: 'portal',
      method: 'PUT',
      path: `/portal-api/users/${encodeURIComponent(id)}`,
      endpoint: '/portal-api/users/:id',
      idempotent: true,
    };
    const body = {
      Email: update.Email,
      First: update.First,
      Last: update.Last,
      Role: update.Role,
      OrganisationID: portalIdValue(update.OrganisationID),
      Active: update.Active,
      Provider: update.Provider,
      Teams: teams,
    };
    return decodeUser(await this.adminObject(req, body));
  }

  /** `GET /portal-api/organisations`, every page. */
  async listOrganisations(perPage = DEFAULT_PER_PAGE): Promise<PortalOrganisation[]> {
    return this.listAll('/portal-api/organisations', '/portal-api/organisations', decodeOrganisation, perPage);
  }

  /** `POST /portal-api/organisations` (`{Name}`); the portal adds a default team. Not retried. */
  async createOrganisation(name: string): Promise<PortalOrganisation> {
    const req: Req = {
      target: 'portal',
      method: 'POST',
      path: '/portal-api/organisations',
      endpoint: '/portal-api/organisations',
      idempotent: false,
    };
    const org = decodeOrganisation(await this.adminObject(req, { Name: name }));
    if (org.ID === '') throw malformed(req, 'the new organisation has no ID');
    return org;
  }

  /** `GET /portal-api/organisations/{id}` with its teams; null on 404. */
  async getOrganisation(id: string): Promise<PortalOrganisationDetail | null> {
    const req: Req = {
      target: 'portal',
      method: 'GET',
      path: `/portal-api/organisations/${encodeURIComponent(id)}`,
      endpoint: '/portal-api/organisations/:id',
      idempotent: true,
    };
    const res = await this.admin(req);
    if (res.status === 404) return null;
    if (res.status !== 200) throw statusError(req, res.status);
    const parsed = parseJson(req, res);
    if (!isPlainObject(parsed)) throw malformed(req, 'expected an organisation object');
    const teams = getCaseInsensitive(parsed, 'Teams');
    return {
      ...decodeOrganisation(parsed),
      Teams: Array.isArray(teams) ? teams.filter(isPlainObject).map(decodeTeam) : [],
    };
  }

  /** `GET /portal-api/organisations/{org}/teams`, every page. */
  async listTeams(orgId: string, perPage = DEFAULT_PER_PAGE, checkpoint?: () => Promise<void>): Promise<PortalTeam[]> {
    return this.listAll(
      `/portal-api/organisations/${encodeURIComponent(orgId)}/teams`,
      '/portal-api/organisations/:orgId/teams',
      decodeTeam,
      perPage,
      checkpoint,
    );
  }

  /** `POST /portal-api/organisations/{org}/teams` (`{Name}`). Not retried. */
  async createTeam(orgId: string, name: string): Promise<PortalTeam> {
    const req: Req = {
      target: 'portal',
      method: 'POST',
      path: `/portal-api/organisations/${encodeURIComponent(orgId)}/teams`,
      endpoint: '/portal-api/organisations/:orgId/teams',
      idempotent: false,
    };
    const team = decodeTeam(await this.adminObject(req, { Name: name }));
    if (team.ID === '') throw malformed(req, 'the new team has no ID');
    return team;
  }
}
