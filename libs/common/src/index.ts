/** Domain errors with codes, shared by every lib and mapped to HTTP by the broker. */
export { DomainError, ERROR_CODES, isDomainError, type ErrorCode } from './domain-error.js';
/** Secret masking for logs, audit diffs and printed configuration. */
export { MASK, isSecretKey, maskSecrets, scrubValues } from './secrets.js';
/** Declares which admin roles may call a route; the broker's global admin guard enforces it. */
export { ADMIN_ROLES_KEY, AdminRoles, type AdminRole, type AdminPrincipal } from './admin-roles.decorator.js';
/** Go encoding/json key matching (exact, then case-insensitive), shared by every TIB decoder. */
export { getCaseInsensitive, getPathCaseInsensitive, isPlainObject } from './go-json.js';
/** The undici connection pool of an upstream (IdP, portal): deadlines, size limit, TLS. */
export { upstreamAgent } from './upstream-agent.js';
/** A bounded map that forgets the least recently used entry (every in-memory cache). */
export { LruCache } from './lru-cache.js';
/** https-only towards identity providers, except loopback hosts or when a profile allows plain http. */
export { isAllowedIdpUrl, isLoopbackHost } from './idp-transport.js';
