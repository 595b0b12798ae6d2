import { DomainError, getCaseInsensitive, isDomainError, isPlainObject } from '@app/common';
import type { PortalConfig } from '@app/config';
import { Logger } from '@nestjs/common';
import { idString } from './tyk-portal.codec.js';
import { malformed, parseJson, statusError, TykHttp, type TykRequest, type TykResponse } from './tyk-http.js';

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

export type Req = Omit<TykRequest, 'headers' | 'body'>;

/**
 * Whether a failed write was the portal refusing what was sent (400 or 422: nothing written, maybe
 * `Teams` in a form it does not take), not a failure of the portal (a 5xx, which may even have
 * written): only a refusal is a reason to send the other form.
 */
export function refusedInput(error: unknown): boolean {
  if (!isDomainError(error) || error.code !== 'portal_rejected') return false;
  const status = error.details?.status;
  return status === 400 || status === 422;
}

/**
 * The portal's management API as HTTP: the raw admin token on every request, and its lists walked
 * page by page (the per-portal memory of the page size it takes). The calls themselves are
 * TykManagementApiClient's.
 */
export abstract class PortalAdminApi {
  protected readonly logger = new Logger(this.constructor.name);
  /** Per portal base URL: FALLBACK_PER_PAGE once the portal refused a larger `per_page`. */
  private readonly pageSizeCaps = new Map<string, number>();

  constructor(
    protected readonly http: TykHttp,
    protected readonly config: PortalConfig,
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

  protected async admin(req: Req, body?: unknown): Promise<TykResponse> {
    const headers = this.adminHeaders(body !== undefined);
    return this.http.send({ ...req, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  protected async adminObject(req: Req, body?: unknown): Promise<Record<string, unknown>> {
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
  protected async *pages(
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
  protected async page(
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

  /** Every page of a list, decoded; `checkpoint` (if any) is awaited before each page is asked for. */
  protected async listAll<T>(
    path: string,
    endpoint: string,
    decode: (raw: Record<string, unknown>) => T,
    perPage: number,
    checkpoint?: () => Promise<void>,
  ): Promise<T[]> {
    const out: T[] = [];
    await checkpoint?.();
    for await (const { items } of this.pages(path, endpoint, perPage)) {
      out.push(...items.map(decode));
      await checkpoint?.();
    }
    return out;
  }
}
