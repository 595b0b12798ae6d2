/** Domain errors with codes, shared by every lib and mapped to HTTP by the broker. */
export { DomainError, ERROR_CODES, isDomainError, type ErrorCode } from './domain-error.js';
/** Secret masking for logs, audit diffs and printed configuration. */
export { MASK, isSecretKey, maskSecrets, scrubValues } from './secrets.js';
/** Declares which admin roles may call a route; the broker's global admin guard enforces it. */
export { ADMIN_ROLES_KEY, AdminRoles, actorOf, type AdminRole, type AdminPrincipal } from './admin-roles.decorator.js';
/** `@RequestContext()`: ip, user agent and request id of the request, for audit records. */
export { RequestContext, requestContextOf, type RequestContextData } from './request-context.decorator.js';
/** Go encoding/json key matching (exact, then case-insensitive), shared by every TIB decoder. */
export { getCaseInsensitive, getPathCaseInsensitive, goFoldName, isPlainObject, setOwn } from './go-json.js';
/** The undici connection pool of an upstream (IdP, portal): deadlines, size limit, TLS. */
export { upstreamAgent } from './upstream-agent.js';
/** CSPRNG tokens (state, nonce, PKCE verifier, browser binding) drawn from a pooled buffer. */
export { randomBase64url } from './random-token.js';
/** A bounded map that forgets the least recently used entry (every in-memory cache). */
export { LruCache } from './lru-cache.js';
/**
 * Per-client rate limiting: the bucket of a client address (IPv4 as is, IPv6 by /64), fixed-window
 * counters and one-per-interval suppression with bounded memory (login limit, admin and SCIM
 * failed-authentication limits and their audits).
 */
export { ClientBuckets, clientBucket } from './client-address.js';
export { FixedWindowCounter } from './fixed-window.js';
export { RepeatSuppressor } from './repeat-suppressor.js';
/** Text Postgres can hold (no NUL, no unpaired surrogate): checks with field paths, repair, safe clipping. */
export {
  clipText,
  jsonTextProblems,
  safeJson,
  safeText,
  unsafeTextReason,
  type TextLimits,
  type TextProblem,
} from './safe-text.js';
/** A promise with a deadline whose timer is cleared once it settles (health checks, the profiles cache). */
export { withTimeout } from './with-timeout.js';
/** An error as a log line may show it: never a failed query's statement, parameters or driver detail. */
export { loggableError } from './loggable-error.js';
/** https-only towards identity providers, except loopback hosts or when a profile allows plain http. */
export { isAllowedIdpUrl, isLoopbackHost } from './idp-transport.js';
/**
 * The paging kit of every list route: the `limit`/`cursor` query DTO, the page size rule, signed
 * (HMAC) keyset cursors bound to their filters (`cursor_invalid` otherwise) and the
 * `Link: rel="next"` header.
 */
export { PageQueryDto } from './paging/page-query.dto.js';
export { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, pageLimit } from './paging/page-limit.js';
export { CursorCodec, cursorInvalid, filterFingerprint } from './paging/cursor-codec.js';
export { nextPageLink } from './paging/next-page-link.js';
/** OpenAPI: the error bodies and a decorator listing a route's error codes per status. */
export { ApiErrors, ErrorBodyDto, ErrorResponseDto, TibErrorResponseDto } from './openapi/error-responses.js';
/**
 * `IdentityHandlerConfig.OrganisationSync`: one parser for the profiles lib (refused at save) and
 * the login path (read through @app/tyk-portal), so a saved profile never fails every login.
 */
export {
  CONSUMER_ROLES,
  DEFAULT_DEVELOPER_ROLE,
  DEFAULT_ORGANISATION_SYNC,
  isConsumerRole,
  parseOrganisationSyncSettings,
  readOrganisationSyncSettings,
  type ConsumerRole,
  type OrganisationSyncProblem,
  type OrganisationSyncSettings,
} from './organisation-sync-settings.js';
