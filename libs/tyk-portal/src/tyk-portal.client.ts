import { DomainError, getCaseInsensitive, isDomainError, isPlainObject } from '@app/common';
import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ssoKeyPathSegment } from './derived-values.js';
import { goJsonStringify, goQueryEscape } from './go-encoding.js';
import { malformed, parseJson, statusError, TykHttp, type TykRequest, type TykResponse } from './tyk-http.js';
import type {
  NewPortalDeveloper,
  OAuthAuthorizeRequest,
  OAuthTokenResponse,
  PortalDeveloper,
  PortalOrganisation,
  PortalOrganisationDetail,
  PortalTeam,
  PortalUser,
  PortalUserUpdate,
  SsoRequest,
} from './tyk-portal.types.js';

/** Go's zero `time.Time`, as TIB serialises unset dates. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * Page size asked for when walking the management API's lists. The portal may answer fewer (its
 * default is 20 and a maximum is undocumented, E2), so a short page never ends a walk: only an
 * empty one does.
 */
export const DEFAULT_PER_PAGE = 100;
/** A portal that ignores `page` would otherwise be walked forever. */
export const MAX_PAGES = 10_000;

/** What `Teams` on `PUT /portal-api/users/{id}` carries: team ids or team names, always as strings (E1). */
export type TeamsWriteForm = 'ids' | 'names';

type Req = Omit<TykRequest, 'headers' | 'body'>;

/**
 * On the SSO API a 403 refuses the login (the Dashboard's "SSO not enabled for org.", the portal's
 * invalid team or registered-users-only rule), while a wrong secret is a 401: a 403 there is
 * portal_rejected, not portal_auth_failed.
 */
const REFUSAL = { forbiddenIsRefusal: true };

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function idString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return '';
}

/**
 * Management API ids (`ID`, `OrganisationID`) are integers in the spec; send a decimal id as a
 * JSON number, anything else (a CID) as a string. Never used for `Teams`, which are strings (E1).
 */
export function portalIdValue(id: string): number | string {
  return /^\d{1,15}$/.test(id) ? Number(id) : id;
}

function objectOrNull(v: unknown): Record<string, unknown> | null {
  return isPlainObject(v) ? v : null;
}

/**
 * A developer decoded the way TIB's Go struct decodes it (keys in any case, unknown keys dropped,
 * missing fields at their zero value: nil maps become `null`, unset times Go's zero time), so the
 * PUT body is the one TIB would send back.
 */
function decodeDeveloper(raw: Record<string, unknown>): PortalDeveloper {
  const g = (k: string) => getCaseInsensitive(raw, k);
  const id = g('id');
  const history = g('PWHistory');
  const maxDays = g('password_max_days');
  return {
    // Opaque (E5): TIB decodes a 24-hex ObjectID string; a number is kept as its decimal string.
    id: idString(id),
    email: str(g('email')),
    date_created: str(g('date_created')) || GO_ZERO_TIME,
    inactive: g('inactive') === true,
    org_id: str(g('org_id')),
    keys: objectOrNull(g('keys')),
    subscriptions: objectOrNull(g('subscriptions')),
    fields: objectOrNull(g('fields')),
    nonce: str(g('nonce')),
    sso_key: str(g('sso_key')),
    password_max_days: typeof maxDays === 'number' ? maxDays : 0,
    password_updated: str(g('password_updated')) || GO_ZERO_TIME,
    last_login_date: str(g('last_login_date')) || GO_ZERO_TIME,
    PWHistory: Array.isArray(history) ? (history as unknown[]) : null,
  };
}

/** The developer in TIB's struct order, whatever order the object was built in. */
function encodeDeveloper(d: PortalDeveloper): string {
  return goJsonStringify({
    id: d.id,
    email: d.email,
    date_created: d.date_created,
    inactive: d.inactive,
    org_id: d.org_id,
    keys: d.keys,
    subscriptions: d.subscriptions,
    fields: d.fields,
    nonce: d.nonce,
    sso_key: d.sso_key,
    password_max_days: d.password_max_days,
    password_updated: d.password_updated,
    last_login_date: d.last_login_date,
    PWHistory: d.PWHistory,
  });
}

function decodeUser(raw: Record<string, unknown>): PortalUser {
  const g = (k: string) => getCaseInsensitive(raw, k);
  const teams = g('Teams');
  const teamRefs = Array.isArray(teams)
    ? teams
        .map((t) =>
          isPlainObject(t) ? idString(getCaseInsensitive(t, 'ID')) || str(getCaseInsensitive(t, 'Name')) : idString(t),
        )
        .filter((t) => t !== '')
    : [];
  return {
    ID: idString(g('ID')),
    Email: str(g('Email')),
    First: str(g('First')),
    Last: str(g('Last')),
    Role: str(g('Role')),
    OrganisationID: idString(g('OrganisationID')),
    Active: g('Active') === true,
    Provider: str(g('Provider')),
    Teams: teamRefs,
  };
}

function decodeTeam(raw: Record<string, unknown>): PortalTeam {
  return {
    ID: idString(getCaseInsensitive(raw, 'ID')),
    Name: str(getCaseInsensitive(raw, 'Name')),
    Default: getCaseInsensitive(raw, 'Default') === true,
  };
}

function decodeOrganisation(raw: Record<string, unknown>): PortalOrganisation {
  return { ID: idString(getCaseInsensitive(raw, 'ID')), Name: str(getCaseInsensitive(raw, 'Name')) };
}

/**
 * HTTP client for the Tyk Enterprise Developer Portal and the Tyk Dashboard/Gateway, speaking to
 * them exactly as TIB does where TIB speaks (`/api/sso`, `/api/portal/developers*`, `/api/keys`,
 * `authorize-client`), and to the portal's management API (`/portal-api`) for organisation sync.
 * Every method throws a DomainError with a `portal_*` code on failure.
 */
@Injectable()
export class TykPortalClient {
  private readonly logger = new Logger(TykPortalClient.name);
  /** Per portal base URL: the `Teams` write form a user update proved (E1). */
  private readonly teamsForms = new Map<string, TeamsWriteForm>();

  constructor(
    private readonly http: TykHttp,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  // ---- SSO API (TIB's calls) -------------------------------------------------------------

  /**
   * `POST /api/sso` with `Authorization: <credential>` and TIB's body, then the nonce from `Meta`.
   * On any answer other than 200, TIB's legacy fallback `POST /admin/sso` with
   * `admin-auth: <DashboardConfig.AdminSecret>` — only when an AdminSecret is configured. When the
   * portal cannot be reached at all the fallback (same host) is not tried.
   */
  async createNonce(body: SsoRequest, credential: string): Promise<string> {
    const payload = goJsonStringify({
      ForSection: body.ForSection,
      OrgID: body.OrgID,
      EmailAddress: body.EmailAddress,
      DisplayName: body.DisplayName,
      GroupID: body.GroupID,
      GroupsIDs: [...body.GroupsIDs],
      SSOOnlyForRegisteredUsers: body.SSOOnlyForRegisteredUsers,
    });
    const primary: Req = {
      target: 'dashboard',
      method: 'POST',
      path: '/api/sso',
      endpoint: '/api/sso',
      idempotent: false,
    };
    // TIB sends the JSON body without a Content-Type header; so does the broker.
    const res = await this.http.send({ ...primary, headers: { authorization: credential }, body: payload });
    if (res.status === 200) return this.readNonce(primary, res);

    const adminSecret = this.config.tykApi.dashboard.adminSecret;
    if (adminSecret === '') throw statusError(primary, res.status, REFUSAL);

    this.logger.warn(`POST /api/sso answered ${res.status}; trying the /admin/sso fallback`);
    const fallback: Req = { ...primary, path: '/admin/sso', endpoint: '/admin/sso' };
    const res2 = await this.http.send({ ...fallback, headers: { 'admin-auth': adminSecret }, body: payload });
    if (res2.status === 200) return this.readNonce(fallback, res2);
    // A 401 from either means a wrong secret; report that rather than the other answer.
    const error = statusError(primary, [res.status, res2.status].includes(401) ? 401 : res.status, REFUSAL);
    throw new DomainError(error.code, `${error.message}; the /admin/sso fallback answered ${res2.status}`, {
      ...error.details,
      fallbackStatus: res2.status,
    });
  }

  private readNonce(req: Req, res: TykResponse): string {
    const body = parseJson(req, res);
    const meta = isPlainObject(body) ? getCaseInsensitive(body, 'Meta') : undefined;
    if (typeof meta !== 'string' || meta === '') throw malformed(req, 'Meta is not a nonce string');
    return meta;
  }

  /**
   * `GET /api/portal/developers/ssokey/{key}` (key escaped as Go's `url.QueryEscape`). The status
   * for an unknown key is undocumented (E3): as TIB, any 4xx other than 401/403 means "not found"
   * (null); 401/403 → portal_auth_failed. Unlike TIB, a 5xx is portal_unreachable and a timeout
   * portal_timeout, never "not found": creating a second developer because a lookup failed is
   * worse than failing the login.
   */
  async findDeveloperBySsoKey(key: string, credential: string): Promise<PortalDeveloper | null> {
    const req: Req = {
      target: 'dashboard',
      method: 'GET',
      path: `/api/portal/developers/ssokey/${ssoKeyPathSegment(key)}`,
      endpoint: '/api/portal/developers/ssokey/:key',
      idempotent: true,
    };
    const res = await this.http.send({ ...req, headers: { authorization: credential } });
    if (res.status === 200 || res.status === 201) {
      const body = parseJson(req, res);
      if (!isPlainObject(body)) throw malformed(req, 'expected a developer object');
      return decodeDeveloper(body);
    }
    if (res.status === 401 || res.status === 403) throw statusError(req, res.status);
    if (res.status >= 400 && res.status < 500) return null;
    if (res.status >= 500) {
      throw new DomainError(
        'portal_unreachable',
        `dashboard answered ${res.status} for GET /api/portal/developers/ssokey/:key; no developer is created`,
        { target: req.target, endpoint: req.endpoint, status: res.status },
      );
    }
    throw statusError(req, res.status);
  }

  /** `POST /api/portal/developers` with TIB's new-developer body. Never retried (not idempotent). */
  async createDeveloper(dev: NewPortalDeveloper, credential: string): Promise<void> {
    const req: Req = {
      target: 'dashboard',
      method: 'POST',
      path: '/api/portal/developers',
      endpoint: '/api/portal/developers',
      idempotent: false,
    };
    const body = encodeDeveloper({
      id: '',
      email: dev.email,
      date_created: (dev.dateCreated ?? new Date()).toISOString(),
      inactive: false,
      org_id: dev.orgId,
      keys: {},
      subscriptions: {},
      fields: {},
      nonce: dev.nonce,
      sso_key: dev.ssoKey,
      password_max_days: 0,
      password_updated: GO_ZERO_TIME,
      last_login_date: GO_ZERO_TIME,
      PWHistory: null,
    });
    const res = await this.http.send({ ...req, headers: { authorization: credential }, body });
    if (res.status !== 200 && res.status !== 201) throw statusError(req, res.status, REFUSAL);
  }

  /** `PUT /api/portal/developers/{id}` (the id opaque, E5) with the developer in TIB's field order. */
  async updateDeveloper(dev: PortalDeveloper, credential: string): Promise<void> {
    const id = dev.id;
    const req: Req = {
      target: 'dashboard',
      method: 'PUT',
      path: `/api/portal/developers/${encodeURIComponent(id)}`,
      endpoint: '/api/portal/developers/:id',
      idempotent: true,
    };
    if (id === '') throw malformed(req, 'the developer has no id');
    const res = await this.http.send({ ...req, headers: { authorization: credential }, body: encodeDeveloper(dev) });
    if (res.status !== 200 && res.status !== 201) throw statusError(req, res.status, REFUSAL);
  }

  // ---- Dashboard keys and Gateway OAuth (TIB's token actions) ---------------------------

  /** `POST /api/keys` (Dashboard) with a Tyk session; returns the new `key_id`. */
  async createStandardKey(session: Record<string, unknown>, credential: string): Promise<string> {
    const req: Req = {
      target: 'dashboard',
      method: 'POST',
      path: '/api/keys',
      endpoint: '/api/keys',
      idempotent: false,
    };
    const res = await this.http.send({
      ...req,
      headers: { authorization: credential },
      body: goJsonStringify(session),
    });
    if (res.status !== 200 && res.status !== 201) throw statusError(req, res.status);
    const body = parseJson(req, res);
    const keyId = isPlainObject(body) ? getCaseInsensitive(body, 'key_id') : undefined;
    if (typeof keyId !== 'string' || keyId === '') throw malformed(req, 'no key_id');
    return keyId;
  }

  /** `DELETE /api/apis/{apiId}/keys/{key}` (Dashboard): revokes a key TIB issued earlier. */
  async revokeApiKey(apiId: string, key: string, credential: string): Promise<'revoked' | 'not_found'> {
    const req: Req = {
      target: 'dashboard',
      method: 'DELETE',
      path: `/api/apis/${encodeURIComponent(apiId)}/keys/${encodeURIComponent(key)}`,
      endpoint: '/api/apis/:apiId/keys/:key',
      idempotent: true,
    };
    const res = await this.http.send({ ...req, headers: { authorization: credential } });
    if (res.status === 404) return 'not_found';
    if (res.status !== 200 && res.status !== 201) throw statusError(req, res.status);
    return 'revoked';
  }

  /**
   * `POST {gateway}/{listenPath}/tyk/oauth/authorize-client/` with `x-tyk-authorization` and TIB's
   * form body, in which only `key_rules` is URL-encoded (TIB's exact bytes).
   */
  async authorizeOAuthClient(request: OAuthAuthorizeRequest): Promise<OAuthTokenResponse> {
    const listenPath = request.listenPath.replace(/^\/+|\/+$/g, '');
    const path = listenPath === '' ? '/tyk/oauth/authorize-client/' : `/${listenPath}/tyk/oauth/authorize-client/`;
    const req: Req = {
      target: 'gateway',
      method: 'POST',
      path,
      endpoint: '/:listenPath/tyk/oauth/authorize-client/',
      idempotent: false,
    };
    const form =
      `response_type=${request.responseType}` +
      `&client_id=${request.clientId}` +
      `&redirect_uri=${request.redirectUri}` +
      `&key_rules=${goQueryEscape(goJsonStringify(request.keyRules))}`;
    const res = await this.http.send({
      ...req,
      headers: {
        'x-tyk-authorization': this.config.tykApi.gateway.adminSecret,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: form,
    });
    if (res.status !== 200 && res.status !== 201) throw statusError(req, res.status);
    const body = parseJson(req, res);
    if (!isPlainObject(body)) throw malformed(req, 'expected an object');
    const expires = getCaseInsensitive(body, 'expires_in');
    return {
      access_token: str(getCaseInsensitive(body, 'access_token')),
      expires_in: typeof expires === 'number' ? expires : 0,
      redirect_to: str(getCaseInsensitive(body, 'redirect_to')),
      token_type: str(getCaseInsensitive(body, 'token_type')),
    };
  }

  // ---- Management API (/portal-api) -----------------------------------------------------

  private adminHeaders(withBody: boolean): Record<string, string> {
    const token = this.config.portal.adminToken;
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

  /** One page of a list; an empty array past its end. */
  private async page(
    path: string,
    endpoint: string,
    perPage: number,
    page: number,
  ): Promise<Record<string, unknown>[]> {
    const req: Req = {
      target: 'portal',
      method: 'GET',
      path: `${path}?page=${page}&per_page=${perPage}`,
      endpoint,
      idempotent: true,
    };
    const res = await this.admin(req);
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
   * for this portal. Throws portal_rejected when neither form puts the user in the teams.
   */
  async updateUser(id: string, update: PortalUserUpdate): Promise<PortalUser> {
    const wanted = [...new Set(update.Teams)];
    if (wanted.length === 0) return this.putUser(id, update, []);
    const portal = this.http.baseUrl('portal');
    const known = this.teamsForms.get(portal);
    const forms: TeamsWriteForm[] = known ? [known] : ['ids', 'names'];
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
        if (!known && isDomainError(error) && error.code === 'portal_rejected') {
          lastError = error;
          continue;
        }
        throw error;
      }
      if (!joined(user)) user = (await this.getUser(id)) ?? user;
      if (joined(user)) {
        if (known !== form) {
          this.teamsForms.set(portal, form);
          this.logger.log(`the portal takes Teams as team ${form} on user updates; remembered`);
        }
        return user;
      }
    }
    throw new DomainError(
      'portal_rejected',
      `portal did not put user ${id} in team(s) ${wanted.join(', ')} with Teams as ${forms.join(' or ')}`,
      { target: 'portal', endpoint: '/portal-api/users/:id', teams: wanted },
      { cause: lastError ?? undefined },
    );
  }

  /**
   * Sets `Active` on a portal user (deprovisioning): reads the user and writes it back unchanged
   * but for `Active`, so nothing else moves. Null when the portal has no such user (nothing to do).
   */
  async setUserActive(id: string, active: boolean): Promise<PortalUser | null> {
    const user = await this.getUser(id);
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
