/**
 * Every error a lib throws on purpose carries one of these codes. The broker's global filter maps
 * each code to an HTTP status (exhaustively, so a new code cannot silently become a 500), and the
 * login routes turn it into `FailureRedirect?error=<code>`.
 */
export const ERROR_CODES = [
  // generic request problems
  'bad_request',
  'validation_failed',
  // a page cursor the broker did not make (or made for other filters)
  'cursor_invalid',
  'not_found',
  'conflict',
  'payload_too_large',
  'unsupported_media_type',
  'unauthorized',
  'forbidden',
  'admin_disabled',
  'rate_limited',
  'unavailable',
  // profiles (TIB-compatible messages travel in `message`)
  'profile_not_found',
  'profile_exists',
  'profile_id_mismatch',
  'profile_invalid',
  'profile_version_conflict',
  /**
   * A stored profile whose own configuration stops a login or logout (a setting the login path
   * cannot use): the operator's problem, never the developer's, so a 503 with no setting named.
   */
  'profile_misconfigured',
  // audit: a full verify of the chain is already running (one at a time across instances)
  'verify_running',
  // login flow
  'provider_not_supported',
  'provider_not_found',
  'discovery_failed',
  'state_invalid',
  'nonce_mismatch',
  'id_token_invalid',
  'token_exchange_failed',
  'userinfo_failed',
  'userinfo_sub_mismatch',
  'idp_error',
  'access_denied',
  'email_missing',
  'email_unverified',
  'domain_not_allowed',
  'developer_blocked',
  /** The profile sets SSOOnlyForRegisteredUsers and the portal has no account for the developer. */
  'developer_not_registered',
  // portal
  'portal_not_configured',
  'portal_unreachable',
  'portal_timeout',
  'portal_auth_failed',
  'portal_rejected',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Safe, secret-free facts for the client (e.g. the field path of a validation failure). */
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DomainError';
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
