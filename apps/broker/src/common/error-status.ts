import type { ErrorCode } from '@app/common';
import { HttpStatus } from '@nestjs/common';

/** Exhaustive: adding a code without a status is a compile error, never a silent 500. */
export function statusForCode(code: ErrorCode): HttpStatus {
  switch (code) {
    case 'bad_request':
    case 'validation_failed':
    case 'cursor_invalid':
    case 'profile_invalid':
    case 'profile_exists':
    case 'profile_id_mismatch':
    case 'state_invalid':
    case 'nonce_mismatch':
    case 'id_token_invalid':
    case 'userinfo_sub_mismatch':
    case 'email_missing':
    case 'provider_not_found':
    case 'idp_error':
      // provider_not_found: TIB's answer to an unknown provider name on the start route (goth's
      // error through tothic.BeginAuthHandler, http.StatusBadRequest).
      // idp_error: what the browser brought back to the callback (the IdP's `error`, a missing
      // code, another issuer's `iss`): anyone can send that, so it is bad input, never a 5xx.
      return HttpStatus.BAD_REQUEST;
    case 'unauthorized':
      return HttpStatus.UNAUTHORIZED;
    case 'forbidden':
    case 'access_denied':
    case 'email_unverified':
    case 'domain_not_allowed':
    case 'developer_blocked':
    case 'developer_not_registered':
      return HttpStatus.FORBIDDEN;
    case 'not_found':
    case 'profile_not_found':
      return HttpStatus.NOT_FOUND;
    case 'conflict':
    case 'profile_version_conflict':
    case 'verify_running':
      return HttpStatus.CONFLICT;
    case 'payload_too_large':
      return HttpStatus.PAYLOAD_TOO_LARGE;
    case 'unsupported_media_type':
      return HttpStatus.UNSUPPORTED_MEDIA_TYPE;
    case 'rate_limited':
      return HttpStatus.TOO_MANY_REQUESTS;
    case 'provider_not_supported':
      return HttpStatus.NOT_IMPLEMENTED;
    case 'discovery_failed':
    case 'token_exchange_failed':
    case 'userinfo_failed':
    case 'portal_unreachable':
    case 'portal_auth_failed':
    case 'portal_rejected':
      return HttpStatus.BAD_GATEWAY;
    case 'portal_timeout':
      return HttpStatus.GATEWAY_TIMEOUT;
    case 'admin_disabled':
    case 'unavailable':
    case 'portal_not_configured':
    case 'profile_misconfigured':
      return HttpStatus.SERVICE_UNAVAILABLE;
  }
}
