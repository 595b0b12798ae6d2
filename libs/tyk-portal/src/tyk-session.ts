import { goSortedMap } from './go-encoding.js';

export interface TykSessionInput {
  baseApiId: string;
  policyId: string;
  orgId: string;
  /** Unix seconds, or -1 for "never" (TIB's OAuth sessions). */
  expires: number;
  oauthClientId?: string;
  userId: string;
  provider: string;
  accessToken: string;
}

/**
 * TIB's `generateBasicTykSesion` plus its meta data: a Tyk SessionState in Go struct order, every
 * field TIB leaves unset at its Go zero value, and the `meta_data` map with sorted keys (Go
 * marshals maps sorted), so the JSON is byte-for-byte what TIB posts.
 */
export function buildTykSession(input: TykSessionInput): Record<string, unknown> {
  return {
    last_check: 0,
    allowance: 1,
    rate: 1,
    per: 1,
    expires: input.expires,
    quota_max: 1,
    quota_renews: 60,
    quota_remaining: 1,
    quota_renewal_rate: 1,
    access_rights: goSortedMap({
      [input.baseApiId]: { api_name: 'Base', api_id: input.baseApiId, versions: ['Default'], allowed_urls: null },
    }),
    org_id: input.orgId,
    oauth_client_id: input.oauthClientId ?? '',
    oauth_keys: null,
    basic_auth_data: { password: '', hash_type: '' },
    jwt_data: { secret: '' },
    hmac_enabled: false,
    hmac_string: '',
    is_inactive: false,
    apply_policy_id: input.policyId,
    data_expires: 0,
    monitor: { trigger_limits: null },
    meta_data: goSortedMap({
      Origin: 'TAP',
      AuthProviderUserID: input.userId,
      AuthProviderSource: input.provider,
      AccessToken: input.accessToken,
      AccessTokenSecret: '',
    }),
    tags: ['TykOrigin-TAP'],
  };
}
