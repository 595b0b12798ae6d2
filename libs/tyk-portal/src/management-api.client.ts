// Over 300 lines (many of them comments), one job: the client of the portal's management API
// (users, organisations, teams, paging). The SSO API and the developer API have their own clients;
// HTTP and decoding are in tyk-http.ts and tyk-portal.codec.ts.
import { DomainError, getCaseInsensitive, isDomainError, isPlainObject } from '@app/common';
import { portalConfig, type PortalConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { decodeOrganisation, decodeTeam, decodeUser, idString, portalIdValue } from './tyk-portal.codec.js';
import { malformed, parseJson, statusError, TykHttp, type TykRequest, type TykResponse } from './tyk-http.js';
import type {
  PortalOrganisation,
  PortalOrganisationDetail,
  PortalTeam,
  PortalUser,
  PortalUserUpdate,
} from './tyk-portal.types.js';

/**
 * Page size asked for when walking the management API's lists. The portal may answer fewer (its
 * default is 20 and a maximum is undocumented, E2), so a short page never ends a walk: only an
 * empty one does.
 */
export const DEFAULT_PER_PAGE = 100;
/**
 * The page size the portal documents as its default (E2): asked for instead of DEFAULT_PER_PAGE
 * once a portal refuses the larger size (a 400 or 422 for a list: whether the real portal caps or
 * refuses a `per_page` above its maximum is unknown, E13).
 */
export const FALLBACK_PER_PAGE = 20;
/** A portal that ignores `page` would otherwise be walked forever. */
export const MAX_PAGES = 10_000;

/** What `Teams` on `PUT /portal-api/users/{id}` carries: team ids or team names, always as strings (E1). */
export type TeamsWriteForm = 'ids' | 'names';

type Req = Omit<TykRequest, 'headers' | 'body'>;

/**
 * The portal's management API (`/portal-api`, the raw admin token): users, organisations and
 * teams, for organisation sync and the user directory. Lists are walked page by page.
 */
@Injectable()
export class TykManagementApiClient {
  private readonly logger = new Logger(TykManagementApiClient.name);
  /** Per portal base URL: the `Teams` write form a user update proved (E1). */
  private readonly teamsForms = new Map<string, TeamsWriteForm>();
  /** Per portal base URL: FALLBACK_PER_PAGE once the portal refused a larger `per_page`. */
  private readonly pageSizeCaps = new Map<string, number>();

  constructor(
    private readonly http: TykHttp,
    @Inject(portalConfig.KEY) private readonly config: PortalConfig,
  ) {}

  private adminHeaders(withBody: boolean): Record<string, string> {
    const token = this.config.adminToken;
    if (token === '') {
      throw new DomainError(
        'portal_not_configured',
        'The portal admin API token is not set (TYK_PORTAL_ADMIN_TOKEN); organisation sync needs it',
        { setting: 'TYK_PORTAL_ADMIN_TOKEN' },
      );
    }
    // The raw token, no "Bearer" prefix (the portal's AdminAPIToken scheme).
    return withBody ? { Authorization: token, 'Content-Type': 'application/json' } : { Authorization: token };
  }

  private async admin(req: Req, body?: unknown): Promise<TykResponse> {
    const headers = this.adminHeaders(body !== undefined);
    return this.http.send({ ...req, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  private async adminObject(req: Req, body?: unknown): Promise<Record<string, unknown>> {
    const res = await this.admin(req, body);
    if (res.status !== 200 && res.status !== 201) throw statusError(req, res.status);
    const parsed = parseJson(req, res);
    if (!isPlainObject(parsed)) throw malformed(req, 'expected an object');
    return parsed;
  }

  /**
   * Pages through a paginated list (`page`, `per_page`, bare JSON arrays) from `fromPage` until an
   * empty page, at most `maxPages` pages. A page that brings no id not seen on an earlier page of
   * this walk ends it too (a portal that ignores `page` answers the first page again). Items are
   * yielded once per id.
   */
  private async *pages(
    path: string,
    endpoint: string,
    perPage: number,
    fromPage = 1,
    maxPages = MAX_PAGES,
  ): AsyncGenerator<{ page: number; items: Record<string, unknown>[] }> {
    const seen = new Set<string>();
    for (let page = fromPage; page < fromPage + maxPages; page++) {
      const items = await this.page(path, endpoint, perPage, page);
      if (items.length === 0) return;
      const fresh = items.filter((item) => {
        const id = idString(getCaseInsensitive(item, 'ID'));
        if (id === '') return true;
        if (seen.has(id)) return false;
        seen.add(id);
        return true;
      });
      if (fresh.length === 0) {
        this.logger.warn(`${endpoint} page ${page} repeated earlier items; the portal ignores "page", stopping`);
        return;
      }
      yield { page, items: fresh };
    }
    this.logger.warn(`${endpoint}: stopped after ${maxPages} pages`);
  }

  /**
   * One page of a list; an empty array past its end. A portal that refuses the page size (400 or
   * 422) is asked again with FALLBACK_PER_PAGE, which is remembered for it: a walk's first page
   * decides, so its page numbers all count in the same size.
   */
  private async page(
    path: string,
    endpoint: string,
    perPage: number,
    page: number,
  ): Promise<Record<string, unknown>[]> {
    const portal = this.http.baseUrl('portal');
    const size = Math.min(perPage, this.pageSizeCaps.get(portal) ?? perPage);
    const req: Req = {
      target: 'portal',
      method: 'GET',
      path: `${path}?page=${page}&per_page=${size}`,
      endpoint,
      idempotent: true,
    };
    const res = await this.admin(req);
    if ((res.status === 400 || res.status === 422) && size > FALLBACK_PER_PAGE) {
      this.pageSizeCaps.set(portal, FALLBACK_PER_PAGE);
      this.logger.warn(
        `${endpoint} refused per_page=${size} (${res.status}); asking for ${FALLBACK_PER_PAGE} per page from now on`,
      );
      return this.page(path, endpoint, perPage, page);
    }
    if (res.status !== 200) throw statusError(req, res.status);
    const parsed = parseJson(req, res);
    if (!Array.isArray(parsed)) throw malformed(req, 'expected a JSON array');
    return parsed.filter(isPlainObject);
  }

  private async listAll<T>(
    path: string,
    endpoint: string,
    decode: (raw: Record<string, unknown>) => T,
    perPage: number,
  ): Promise<T[]> {
    const out: T[] = [];
    for await (const { items } of this.pages(path, endpoint, perPage)) out.push(...items.map(decode));
    return out;
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
    const portal = this.http.baseUrl('portal');
    const known = this.teamsForms.get(portal);
    const forms: TeamsWriteForm[] = known === 'names' ? ['names', 'ids'] : ['ids', 'names'];
    const catalogue = await this.teamCatalogue(update.OrganisationID);
    const nameOf = (teamId: string) => catalogue.find((t) => t.ID === teamId)?.Name;
    const joined = (user: PortalUser) =>
      wanted.every((teamId) => user.Teams.includes(teamId) || user.Teams.includes(nameOf(teamId) ?? '\u0000'));
    let lastError: unknown = null;
    for (const form of forms) {
      const refs = form === 'ids' ? wanted : wanted.map((teamId) => nameOf(teamId));
      if (refs.some((r) => r === undefined)) continue;
      let user: PortalUser;
      try {
        user = await this.putUser(id, update, refs as string[]);
      } catch (error) {
        // A 400/422 may be the portal refusing teams in the form it does not take: try the other.
        if (isDomainError(error) && error.code === 'portal_rejected') {
          lastError = error;
          this.forgetForm(portal, form);
          continue;
        }
        throw error;
      }
      if (!joined(user)) user = (await this.getUser(id)) ?? user;
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
   * Sets `Active` on a portal user (deprovisioning): reads the user (unless the caller passes the
   * one it just read as `current`) and writes it back unchanged but for `Active`, so nothing else
   * moves. Null when the portal has no such user (nothing to do).
   */
  async setUserActive(id: string, active: boolean, current?: PortalUser | null): Promise<PortalUser | null> {
    const user = current === undefined ? await this.getUser(id) : current;
    if (!user) return null;
    if (user.Active === active) return user;
    // Reads name the teams (E1); the write goes through updateUser, which takes team ids.
    const catalogue = await this.teamCatalogue(user.OrganisationID);
    const teamIds = user.Teams.map((ref) => catalogue.find((t) => t.ID === ref || t.Name === ref)?.ID ?? ref);
    return this.updateUser(id, { ...user, Active: active, Teams: teamIds });
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

  private async teamCatalogue(orgId: string): Promise<PortalTeam[]> {
    if (orgId === '' || orgId === '0') return [];
    return this.listTeams(orgId);
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
  async listTeams(orgId: string, perPage = DEFAULT_PER_PAGE): Promise<PortalTeam[]> {
    return this.listAll(
      `/portal-api/organisations/${encodeURIComponent(orgId)}/teams`,
      '/portal-api/organisations/:orgId/teams',
      decodeTeam,
      perPage,
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
