import { decodeDeveloper, encodeDeveloper } from './tyk-portal.codec.js';

/** TIB's PortalDeveloper JSON field order (tyk-api/tyk_api.go, TIB HEAD 166e4269). */
const TIB_ORDER = [
  'id',
  'email',
  'date_created',
  'inactive',
  'org_id',
  'keys',
  'subscriptions',
  'fields',
  'nonce',
  'sso_key',
  'oauth_clients',
  'password_max_days',
  'password_updated',
  'PWHistory',
  'last_login_date',
];

describe('PortalDeveloper codec', () => {
  const oauthClients = {
    'policy-1': [
      {
        client_id: 'c1',
        client_name: 'App',
        secret: 's',
        redirect_uri: 'https://app.example/cb',
        dcr_registration: { client_uri: 'https://idp.example/c1', provider: 'okta', extra: 1 },
      },
    ],
  };

  it("should send the developer's oauth_clients back unchanged, in TIB's field order", () => {
    const fetched = decodeDeveloper({
      last_login_date: '2026-01-02T03:04:05Z',
      PWHistory: ['h1'],
      oauth_clients: oauthClients,
      sso_key: 'sub@openid-connect.com',
      id: '0123456789abcdef01234567',
      email: 'dev@example.com',
    });
    const body = JSON.parse(encodeDeveloper({ ...fetched, nonce: 'n1' })) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(TIB_ORDER);
    expect(body.oauth_clients).toEqual(oauthClients);
    expect(body).toMatchObject({ PWHistory: ['h1'], last_login_date: '2026-01-02T03:04:05Z', nonce: 'n1' });
  });

  it('should leave oauth_clients out when the developer has none (omitempty)', () => {
    for (const raw of [{ id: 'a' }, { id: 'a', oauth_clients: null }, { id: 'a', oauth_clients: {} }]) {
      const body = JSON.parse(encodeDeveloper(decodeDeveloper(raw))) as Record<string, unknown>;
      expect(Object.keys(body)).toEqual(TIB_ORDER.filter((k) => k !== 'oauth_clients'));
    }
  });
});
