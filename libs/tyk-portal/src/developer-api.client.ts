import { DomainError, getCaseInsensitive, isPlainObject } from '@app/common';
import { portalConfig, type PortalConfig } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';
import { ssoKeyPathSegment } from './derived-values.js';
import { goJsonStringify, goQueryEscape } from './go-encoding.js';
import { REFUSAL } from './sso-api.client.js';
import { GO_ZERO_TIME, decodeDeveloper, encodeDeveloper, str } from './tyk-portal.codec.js';
import { malformed, parseJson, statusError, TykHttp, type TykRequest } from './tyk-http.js';
import type {
  NewPortalDeveloper,
  OAuthAuthorizeRequest,
  OAuthTokenResponse,
  PortalDeveloper,
} from './tyk-portal.types.js';

type Req = Omit<TykRequest, 'headers' | 'body'>;

/**
 * The Dashboard's developer API and the key and OAuth calls of TIB's token actions, spoken
 * exactly as TIB speaks them (`/api/portal/developers*`, `/api/keys`, `authorize-client`).
 */
@Injectable()
export class TykDeveloperApiClient {
  constructor(
    private readonly http: TykHttp,
    @Inject(portalConfig.KEY) private readonly config: PortalConfig,
  ) {}

  /**
   * `GET /api/portal/developers/ssokey/{key}` (key escaped as Go's `url.QueryEscape`). The status
   * for an unknown key is undocumented (E3): as TIB, a 4xx other than 401/403/408/429 means "not
   * found" (null); 401/403 → portal_auth_failed. Unlike TIB, a 5xx, 408 or 429 (the portal busy,
   * not an answer about the key) is portal_unreachable and a timeout portal_timeout, never "not
   * found": creating a second developer because a lookup failed is worse than failing the login.
   * A developer whose `sso_key` (TIB's PortalDeveloper carries it) is set and is not the key asked
   * for is refused (portal_rejected): this login's nonce would otherwise sign the browser in as
   * someone else. Compared exactly: the key is built from the OpenID subject, which is
   * case-sensitive, so a portal that folds case and answers `abc@…` for `ABC@…` has found
   * another person's developer.
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
      const developer = decodeDeveloper(body);
      if (developer.sso_key !== '' && developer.sso_key !== key) {
        throw malformed(req, 'the developer returned has another SSO key than the one asked for');
      }
      return developer;
    }
    if (res.status === 401 || res.status === 403) throw statusError(req, res.status);
    const busy = res.status === 408 || res.status === 429;
    if (res.status >= 400 && res.status < 500 && !busy) return null;
    if (res.status >= 500 || busy) {
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
      PWHistory: null,
      last_login_date: GO_ZERO_TIME,
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
}
