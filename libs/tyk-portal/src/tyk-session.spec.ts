import { goJsonStringify } from './go-encoding.js';
import { buildTykSession } from './tyk-session.js';

describe('buildTykSession', () => {
  it('should serialise byte-for-byte as TIB marshals its SessionState', () => {
    const session = buildTykSession({
      baseApiId: 'api-1',
      policyId: 'pol-1',
      orgId: 'org-1',
      expires: 1700000000,
      userId: 'sub-1',
      provider: 'openid-connect',
      accessToken: 'at<1>',
    });
    // Go struct order, zero values for unset fields, sorted meta_data keys, HTML-escaped strings.
    expect(goJsonStringify(session)).toBe(
      '{"last_check":0,"allowance":1,"rate":1,"per":1,"expires":1700000000,"quota_max":1,"quota_renews":60,' +
        '"quota_remaining":1,"quota_renewal_rate":1,"access_rights":{"api-1":{"api_name":"Base","api_id":"api-1",' +
        '"versions":["Default"],"allowed_urls":null}},"org_id":"org-1","oauth_client_id":"","oauth_keys":null,' +
        '"basic_auth_data":{"password":"","hash_type":""},"jwt_data":{"secret":""},"hmac_enabled":false,' +
        '"hmac_string":"","is_inactive":false,"apply_policy_id":"pol-1","data_expires":0,' +
        '"monitor":{"trigger_limits":null},"meta_data":{"AccessToken":"at\\u003c1\\u003e","AccessTokenSecret":"",' +
        '"AuthProviderSource":"openid-connect","AuthProviderUserID":"sub-1","Origin":"TAP"},"tags":["TykOrigin-TAP"]}',
    );
  });

  it('should carry the OAuth client id and the never-expiring -1 for OAuth sessions', () => {
    const session = buildTykSession({
      baseApiId: 'a',
      policyId: '',
      orgId: '',
      expires: -1,
      oauthClientId: 'client-1',
      userId: 'u',
      provider: 'p',
      accessToken: '',
    });
    expect(session.expires).toBe(-1);
    expect(session.oauth_client_id).toBe('client-1');
  });
});
