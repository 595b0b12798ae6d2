import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '@app/database';
import pg from 'pg';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';

/**
 * TIB's two token actions through the real broker (issue 13, findings 5 and 6): the issued Tyk
 * key and OAuth access token never reach a log line, and the previous one is revoked at the next
 * login whichever instance serves it, also after a restart, from a Postgres store that keeps the
 * token only sealed.
 */

const ADMIN_SECRET = 'token-actions-admin-secret-4417';
const SESSION_SECRET = 'token-actions-session-secret-0923';
const DASHBOARD_CREDENTIAL = 'token-actions-portal-api-secret-7731';
const GATEWAY_SECRET = 'token-actions-gateway-secret-5580';

/** A Tyk Dashboard + Gateway stand-in: issues random keys and tokens, records revocations. */
interface FakeTyk {
  url: string;
  issued: string[];
  revoked: string[];
  close(): Promise<void>;
}

async function startFakeTyk(): Promise<FakeTyk> {
  const issued: string[] = [];
  const revoked: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = req.url ?? '';
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && url === '/api/keys') {
        const key = `key${randomBytes(12).toString('hex')}`;
        issued.push(key);
        return reply(200, { key_id: key, action: 'added' });
      }
      const revoke = /^\/api\/apis\/[^/]+\/keys\/([^/?]+)$/.exec(url);
      if (req.method === 'DELETE' && revoke) {
        revoked.push(decodeURIComponent(revoke[1]));
        return reply(200, { Status: 'OK' });
      }
      if (req.method === 'POST' && url === '/oauth-api/tyk/oauth/authorize-client/') {
        const token = `tok${randomBytes(12).toString('hex')}`;
        issued.push(token);
        return reply(200, {
          access_token: token,
          expires_in: 3600,
          redirect_to: `http://app.example/cb#access_token=${token}&token_type=bearer`,
          token_type: 'bearer',
        });
      }
      reply(404, { Status: 'error' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    issued,
    revoked,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function profile(id: string, brokerUrl: string, idp: FakeIdp, action: 'token' | 'oauth'): Record<string, unknown> {
  return {
    ID: id,
    Name: `Token action ${id}`,
    OrgID: 'org-1',
    MatchedPolicyID: 'policy-1',
    ProviderName: 'SocialProvider',
    Type: 'redirect',
    ActionType: action === 'token' ? 'GenerateTemporaryAuthToken' : 'GenerateOAuthTokenForClient',
    IdentityHandlerConfig:
      action === 'token'
        ? { DashboardCredential: DASHBOARD_CREDENTIAL, TokenAuth: { BaseAPIID: 'api-1', Expires: 600 } }
        : {
            DashboardCredential: DASHBOARD_CREDENTIAL,
            OAuth: {
              APIListenPath: 'oauth-api',
              RedirectURI: 'http://app.example/cb',
              ResponseType: 'token',
              ClientId: 'client-1',
              BaseAPIID: 'oauth-base',
            },
          },
    ProviderConfig: {
      CallbackBaseURL: brokerUrl,
      UseProviders: [
        {
          Name: 'openid-connect',
          Key: idp.clientId,
          Secret: idp.clientSecret,
          DiscoverURL: idp.discoverUrl,
          Scopes: ['openid', 'email', 'profile'],
        },
      ],
    },
    ...(action === 'token' ? { ReturnURL: 'http://app.example/landing' } : {}),
  };
}

describe('token actions (real broker, fake IdP, fake Tyk)', () => {
  let db: TestDatabase;
  let idp: FakeIdp;
  let tyk: FakeTyk;
  let sql: pg.Client;
  const ports: number[] = [];
  const brokers: TestBroker[] = [];
  /** Every broker instance ever started, closed ones included: their logs are all checked. */
  const allLogs: (() => string)[] = [];

  const boot = async (port: number): Promise<TestBroker> => {
    const url = new URL(tyk.url);
    const broker = await startTestBroker(
      testConfig({
        DATABASE_URL: db.url,
        TYK_IB_SECRET: ADMIN_SECRET,
        TYK_IB_SESSION_SECRET: SESSION_SECRET,
        TYK_LOGLEVEL: 'debug',
        BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0',
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${url.protocol}//${url.hostname}`,
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: url.port,
        TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_ENDPOINT: `${url.protocol}//${url.hostname}`,
        TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_PORT: url.port,
        TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_ADMINSECRET: GATEWAY_SECRET,
      }),
      port,
    );
    allLogs.push(() => broker.logs.text());
    return broker;
  };

  /** One whole login on the given instance; returns the broker's final Location. */
  async function login(broker: TestBroker, profileId: string): Promise<string> {
    const start = await fetch(`${broker.url}/auth/${profileId}/openid-connect`, { redirect: 'manual' });
    expect(start.status).toBe(307);
    const cookie = start.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const authorized = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    expect(authorized.status).toBe(302);
    // The callback is answered by the same instance's URL (the profile's CallbackBaseURL is instance A).
    const callback = new URL(authorized.headers.get('location')!);
    const done = await fetch(`${broker.url}${callback.pathname}${callback.search}`, {
      redirect: 'manual',
      headers: { cookie },
    });
    expect(done.status).toBe(302);
    return done.headers.get('location')!;
  }

  async function putProfile(broker: TestBroker, body: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${broker.url}/api/profiles/${String(body.ID)}`, {
      method: 'POST',
      headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
  }

  beforeAll(async () => {
    db = await createTestDatabase('token_actions');
    idp = await startFakeIdp();
    tyk = await startFakeTyk();
    ports.push(await freePort(), await freePort());
    brokers.push(await boot(ports[0]), await boot(ports[1]));
    await putProfile(brokers[0], profile('temp-token', brokers[0].url, idp, 'token'));
    await putProfile(brokers[0], profile('oauth-token', brokers[0].url, idp, 'oauth'));
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    for (const broker of brokers) await broker.close().catch(() => undefined);
    await tyk?.close();
    await idp?.stop();
    await db?.drop();
  });

  it('should revoke the previous key on another instance and after a restart, and log neither key nor token', async () => {
    // GenerateTemporaryAuthToken: ReturnURL#token=<key>, on instance A.
    const first = await login(brokers[0], 'temp-token');
    const key1 = tyk.issued.at(-1)!;
    expect(first).toBe(`http://app.example/landing#token=${key1}`);
    expect(tyk.revoked).toEqual([]);

    // The next login on instance B revokes the key A issued.
    await login(brokers[1], 'temp-token');
    const key2 = tyk.issued.at(-1)!;
    expect(tyk.revoked).toEqual([key1]);

    // Both instances restart; the next login still revokes the key issued before the restart.
    for (let i = 0; i < 2; i++) {
      await brokers[i].close();
      brokers[i] = await boot(ports[i]);
    }
    await login(brokers[0], 'temp-token');
    expect(tyk.revoked).toEqual([key1, key2]);

    // GenerateOAuthTokenForClient: the Gateway's redirect_to with #access_token=, forwarded as is.
    const oauth1 = await login(brokers[1], 'oauth-token');
    const token1 = tyk.issued.at(-1)!;
    expect(oauth1).toBe(`http://app.example/cb#access_token=${token1}&token_type=bearer`);
    await login(brokers[0], 'oauth-token');
    expect(tyk.revoked).toEqual([key1, key2, token1]);

    // At rest: one row per (profile, user), holding neither the token nor the user in clear.
    const { rows } = await sql.query<{ lookup: Buffer; sealed: Buffer }>('SELECT lookup, sealed FROM issued_tokens');
    expect(rows).toHaveLength(2);
    const stored = rows.map((r) => `${r.lookup.toString('latin1')}${r.sealed.toString('latin1')}`).join('');
    for (const value of [...tyk.issued, idp.issuer, 'dev-123']) expect(stored).not.toContain(value);

    // No log line of any instance carries an issued key or token, or the redirect's fragment.
    const logs = allLogs.map((text) => text()).join('\n');
    expect(tyk.issued.length).toBe(5);
    for (const value of tyk.issued) expect(logs).not.toContain(value);
    expect(logs).not.toMatch(/#(token|access_token)=/);
    // The request log still says where each redirect went.
    expect(logs).toContain('"location":"http://app.example/landing"');
    expect(logs).toContain('"location":"http://app.example/cb"');
  }, 60_000);

  it('should treat a token sealed under another session secret as nothing to revoke', async () => {
    await sql.query(`UPDATE issued_tokens SET sealed = decode(repeat('00', 40), 'hex')`);
    const before = tyk.revoked.length;
    const location = await login(brokers[0], 'temp-token');
    expect(location).toMatch(/^http:\/\/app\.example\/landing#token=key/);
    expect(tyk.revoked).toHaveLength(before);
    expect(allLogs.map((text) => text()).join('\n')).toContain('sealed under another TYK_IB_SESSION_SECRET');
  }, 30_000);

  it('should take the tokens out of the store with an erasure, then revoke them through the outbox', async () => {
    await login(brokers[0], 'temp-token');
    const key = tyk.issued.at(-1)!;
    await login(brokers[1], 'oauth-token');
    const token = tyk.issued.at(-1)!;
    const { rows } = await sql.query<{ id: string }>('SELECT id::text AS id FROM developers WHERE subject = $1', [
      'dev-123',
    ]);
    expect((await sql.query('SELECT count(*)::int AS n FROM issued_tokens')).rows).toEqual([{ n: 2 }]);

    const erased = await fetch(`${brokers[1].url}/api/developers/${rows[0].id}`, {
      method: 'DELETE',
      headers: { Authorization: ADMIN_SECRET },
    });
    expect(erased.status).toBe(200);
    // Gone with the erasure itself (its transaction), not after the revocation.
    expect((await sql.query('SELECT count(*)::int AS n FROM issued_tokens')).rows).toEqual([{ n: 0 }]);

    // The outbox revokes both at the Dashboard (bounded by jest's timeout), then forgets them.
    while (!tyk.revoked.includes(key) || !tyk.revoked.includes(token)) await new Promise((r) => setTimeout(r, 50));
    const outbox = async () =>
      (
        await sql.query<{ subject: string | null; tokens: unknown }>(
          'SELECT subject, tokens FROM deprovisioning_outbox WHERE developer_id = $1',
          [rows[0].id],
        )
      ).rows[0];
    while ((await outbox()).tokens !== null) await new Promise((r) => setTimeout(r, 50));
    expect(await outbox()).toEqual({ subject: null, tokens: null });
    const revocations = await sql.query<{ details: { profile_id: string } }>(
      `SELECT details FROM audit_events WHERE type = 'token.revoked' AND developer_id = $1 ORDER BY id`,
      [rows[0].id],
    );
    expect(revocations.rows.map((r) => r.details.profile_id).sort()).toEqual(['oauth-token', 'temp-token']);
  }, 60_000);
});
