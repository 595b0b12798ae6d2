import { DEFAULT_ADMIN_RESOURCE, configFromEnv, parseClients } from './config.js';

describe('dev IdP configuration from env', () => {
  it('should default to the Cloudentity-like local setup', () => {
    const config = configFromEnv({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3020,
      publicHost: 'localhost',
      tenant: 'dev',
      workspace: 'developers',
      dataDir: '.data/dev-idp',
      adminResource: DEFAULT_ADMIN_RESOURCE,
      extraUsers: [],
    });
    expect(config.clients).toEqual([
      {
        client_id: 'portal-sso-broker',
        client_secret: 'dev-secret-change-me',
        redirect_uris: [
          'http://localhost:3010/auth/1/openid-connect/callback',
          'http://localhost:3010/auth/demo/openid-connect/callback',
        ],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ]);
    expect(config.adminClients).toEqual([
      { client_id: 'broker-admin', client_secret: 'dev-admin-secret', roles: ['broker:admin'] },
      { client_id: 'broker-auditor', client_secret: 'dev-auditor-secret', roles: ['broker:auditor'] },
    ]);
  });

  it('should read every variable it documents', () => {
    const config = configFromEnv({
      DEV_IDP_PORT: '0',
      DEV_IDP_HOST: '0.0.0.0',
      DEV_IDP_PUBLIC_HOST: 'idp.test',
      DEV_IDP_TENANT: 't1',
      DEV_IDP_WORKSPACE: 'w_1',
      DEV_IDP_DATA_DIR: '/tmp/k',
      DEV_IDP_ADMIN_SECRET: 'a-secret',
      DEV_IDP_AUDITOR_SECRET: 'b-secret',
      DEV_IDP_USERS: '[{"sub":"u1","email":"u1@x.example"}]',
      DEV_IDP_USERS_FILE: '/tmp/users.json',
    });
    expect(config).toMatchObject({ port: 0, host: '0.0.0.0', publicHost: 'idp.test', tenant: 't1', workspace: 'w_1' });
    expect(config.adminClients.map((c) => c.client_secret)).toEqual(['a-secret', 'b-secret']);
    expect(config.extraUsers.map((u) => u.sub)).toEqual(['u1']);
    expect(config.usersFile).toBe('/tmp/users.json');
  });

  it('should refuse bad values', () => {
    expect(() => configFromEnv({ DEV_IDP_PORT: 'http' })).toThrow(/DEV_IDP_PORT/);
    expect(() => configFromEnv({ DEV_IDP_PORT: '70000' })).toThrow(/DEV_IDP_PORT/);
    expect(() => configFromEnv({ DEV_IDP_TENANT: 'a/b' })).toThrow(/DEV_IDP_TENANT/);
    expect(() =>
      configFromEnv({
        DEV_IDP_CLIENTS: JSON.stringify([
          { client_id: 'broker-admin', client_secret: 's', redirect_uris: ['http://x/cb'] },
        ]),
      }),
    ).toThrow(/reserved/);
  });

  it('should parse DEV_IDP_CLIENTS with client_secret_basic as the default method', () => {
    expect(
      parseClients(
        JSON.stringify([
          { client_id: 'a', client_secret: 's', redirect_uris: ['http://localhost/cb'] },
          {
            client_id: 'b',
            client_secret: 's',
            redirect_uris: ['http://localhost/cb'],
            token_endpoint_auth_method: 'client_secret_post',
          },
        ]),
      ).map((c) => c.token_endpoint_auth_method),
    ).toEqual(['client_secret_basic', 'client_secret_post']);
    const one = (c: Record<string, unknown>) => () =>
      parseClients(
        JSON.stringify([{ client_id: 'a', client_secret: 's', redirect_uris: ['http://localhost/cb'], ...c }]),
      );
    expect(one({ token_endpoint_auth_method: 'none' })).toThrow(/token_endpoint_auth_method/);
    expect(one({ redirect_uris: [] })).toThrow(/must not be empty/);
    expect(one({ redirect_uris: ['/relative'] })).toThrow(/absolute URL/);
    expect(one({ client_secret: '' })).toThrow(/client_secret is required/);
    expect(() => parseClients('[]')).toThrow(/non-empty/);
    expect(() =>
      parseClients(
        JSON.stringify([
          { client_id: 'a', client_secret: 's', redirect_uris: ['http://localhost/cb'] },
          { client_id: 'a', client_secret: 's', redirect_uris: ['http://localhost/cb'] },
        ]),
      ),
    ).toThrow(/duplicate/);
  });
});
