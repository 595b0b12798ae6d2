import type { ErrorCode } from '@app/common';

/**
 * What a browser or API client is told for a code when the error's own message is internal: a
 * login failure page, or any 5xx. The error's message (which may name a setting, an upstream URL
 * or a socket error, e.g. "TYK_PORTAL_ADMIN_TOKEN is not set", "ECONNREFUSED for POST /api/sso")
 * goes to the log with the request id, which the page shows so the two can be matched.
 * Exhaustive: a new code without a sentence is a compile error.
 */
export function publicMessage(code: ErrorCode): string {
  switch (code) {
    case 'bad_request':
    case 'validation_failed':
      return 'The request was not valid.';
    case 'not_found':
      return 'Not found.';
    case 'cursor_invalid':
      return 'The page cursor is not valid. Start again from the first page.';
    case 'conflict':
      return 'The request conflicts with a change made at the same time. Try again.';
    case 'verify_running':
      return 'A full verify of the audit log is already running. Try again when it has finished.';
    case 'payload_too_large':
      return 'The request is too large.';
    case 'unsupported_media_type':
      return 'The request has an unsupported content type.';
    case 'unauthorized':
      return 'Authorization failed.';
    case 'forbidden':
      return 'You may not do this.';
    case 'admin_disabled':
      // The same documented step for every deployment: it tells nothing about this one.
      return 'The admin API is disabled because no secret is configured: set TYK_IB_SECRET (or "Secret" in tib.conf) and restart the broker.';
    case 'rate_limited':
      return 'Too many requests. Wait a minute and try again.';
    case 'unavailable':
      return 'The sign-in service is temporarily unavailable. Try again shortly.';
    case 'profile_not_found':
    case 'provider_not_found':
      return 'This sign-in link does not exist. Check the address or start from the sign-in page.';
    case 'profile_exists':
    case 'profile_id_mismatch':
    case 'profile_invalid':
    case 'profile_version_conflict':
      return 'The sign-in profile could not be saved.';
    case 'profile_misconfigured':
      return 'This sign-in profile is not set up correctly. Contact the portal administrators.';
    case 'provider_not_supported':
      return 'This sign-in profile uses a provider the broker does not support.';
    case 'discovery_failed':
    case 'token_exchange_failed':
    case 'userinfo_failed':
      return 'The identity provider could not be reached. Try again shortly.';
    case 'state_invalid':
      return 'This sign-in link has expired or was already used. Start again.';
    case 'nonce_mismatch':
    case 'id_token_invalid':
    case 'userinfo_sub_mismatch':
      return 'The identity provider’s answer could not be verified. Start again.';
    case 'idp_error':
      return 'The identity provider reported an error. Start again.';
    case 'access_denied':
      return 'The sign-in was cancelled at the identity provider.';
    case 'email_missing':
      return 'The identity provider did not share a usable email address.';
    case 'email_unverified':
      return 'Your email address is not verified at the identity provider.';
    case 'domain_not_allowed':
      return 'Your email domain may not sign in here.';
    case 'developer_blocked':
      return 'Your account is blocked. Contact the portal administrators.';
    case 'developer_not_registered':
      return 'This sign-in is for registered developers only. Ask the portal administrators for an account.';
    case 'portal_not_configured':
    case 'portal_unreachable':
    case 'portal_timeout':
    case 'portal_auth_failed':
    case 'portal_rejected':
      return 'The developer portal could not complete the sign-in. Try again shortly or contact the portal administrators.';
  }
}
