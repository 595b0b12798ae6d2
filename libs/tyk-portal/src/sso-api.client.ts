import { DomainError, getCaseInsensitive, isPlainObject } from '@app/common';
import { portalConfig, type PortalConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { goJsonStringify } from './go-encoding.js';
import { malformed, parseJson, statusError, TykHttp, type TykRequest, type TykResponse } from './tyk-http.js';
import type { SsoRequest } from './tyk-portal.types.js';

type Req = Omit<TykRequest, 'headers' | 'body'>;

/**
 * On the SSO API a 403 refuses the login (the Dashboard's "SSO not enabled for org.", the portal's
 * invalid team or registered-users-only rule), while a wrong secret is a 401: a 403 there is
 * portal_rejected, not portal_auth_failed.
 */
export const REFUSAL = { forbiddenIsRefusal: true };

/** The portal's SSO API as TIB calls it: a nonce for the developer's one-time portal login. */
@Injectable()
export class TykSsoApiClient {
  private readonly logger = new Logger(TykSsoApiClient.name);

  constructor(
    private readonly http: TykHttp,
    @Inject(portalConfig.KEY) private readonly config: PortalConfig,
  ) {}

  /**
   * `POST /api/sso` with `Authorization: <credential>` and TIB's body, then the nonce from `Meta`.
   * On any answer other than 200, TIB's legacy fallback `POST /admin/sso` with
   * `admin-auth: <DashboardConfig.AdminSecret>` — only for `ForSection: "dashboard"` (the EDP
   * serves no `/admin/sso`, specs/tyk-portal.md E9: only Dashboard profiles use it) and only when an
   * AdminSecret is configured. When the portal cannot be reached at all the fallback (same host) is
   * not tried.
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
    if (adminSecret === '' || body.ForSection !== 'dashboard') throw statusError(primary, res.status, REFUSAL);

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
}
