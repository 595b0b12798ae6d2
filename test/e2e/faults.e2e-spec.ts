import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from '@app/database';
import { Logger } from '@nestjs/common';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { loginWithDevIdp, startDevIdp, type RunningTestDevIdp } from '@test/support/dev-idp.js';
import { startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';
import { classify, hop, startLogin, type LoginEnd } from '../soak/support/login-driver.js';

/**
 * Fails safe: Postgres stopped in the middle of logins, a slow, failing or absent portal, an IdP
 * whose token endpoint is slow or down, whose JWKS is down (keys cached) or whose discovery is
 * down when the broker starts. Every login ends at FailureRedirect with its code (or the error
 * page), nothing is half-written, the process stays up and heals on its own.
 */

const ADMIN_SECRET = 'faults-admin-secret-7310';
const PORTAL_SECRET = 'faults-portal-secret-1184';
const PORTAL_TOKEN = 'faults-portal-token-5402';
const CLIENT_ID = 'faults-broker';
const CLIENT_SECRET = 'faults-client-secret-6620';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function putProfile(brokerUrl: string, profile: Record<string, unknown>): Promise<void> {
  const id = String(profile.ID);
  const headers = { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' };
  const exists = (await fetch(`${brokerUrl}/api/profiles/${id}`, { headers })).status === 200;
  const res = await fetch(`${brokerUrl}/api/profiles/${id}`, {
    method: exists ? 'PUT' : 'POST',
    headers,
    body: JSON.stringify(profile),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`profile ${id}: ${res.status} ${await res.text()}`);
}

function profileFor(
  id: string,
  brokerUrl: string,
  portal: PortalEmulator,
  idp: { key: string; secret: string; discoverUrl: string },
  over: { failureRedirect?: boolean; skipUserInfo?: boolean } = {},
): Record<string, unknown> {
  return {
    ID: id,
    Name: `Faults ${id}`,
    OrgID: '0',
    ActionType: 'GenerateOrLoginDeveloperProfile',
    ProviderName: 'SocialProvider',
    Type: 'redirect',
    DefaultUserGroupID: '1',
    IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET },
    ProviderConfig: {
      CallbackBaseURL: brokerUrl,
      ...(over.failureRedirect === false ? {} : { FailureRedirect: `${portal.url}/?fail=true` }),
      UseProviders: [
        {
          Name: 'openid-connect',
          Key: idp.key,
          Secret: idp.secret,
          DiscoverURL: idp.discoverUrl,
          Scopes: ['openid', 'email', 'profile'],
          SkipUserInfoRequest: over.skipUserInfo ?? false,
        },
      ],
    },
    ReturnURL: `${portal.url}/sso`,
  };
}

function portalEnv(portal: PortalEmulator): Record<string, string> {
  const url = new URL(portal.url);
  return {
    TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${url.protocol}//${url.hostname}`,
    TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: url.port,
    TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
  };
}

async function latestFailureReason(sql: pg.Client): Promise<string | null> {
  const { rows } = await sql.query<{ reason: string }>(
    "SELECT reason FROM audit_events WHERE type = 'login.failed' ORDER BY id DESC LIMIT 1",
  );
  return rows[0]?.reason ?? null;
}

beforeAll(() => {
  Logger.overrideLogger(['error']);
  process.on('unhandledRejection', onUnhandled);
});

afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('faults: Postgres and the portal (real broker, own Postgres server, dev IdP, portal emulator)', () => {
  let pgServer: EmbeddedDatabase;
  let idp: RunningTestDevIdp;
  let portal: PortalEmulator;
  let broker: TestBroker;
  let sql: pg.Client;
  let brokerUrl: string;
  /** Logins that ended at ReturnURL, as the browsers saw them. */
  let successesSeen = 0;

  const returnUrl = () => `${portal.url}/sso`;
  const failureRedirect = () => `${portal.url}/?fail=true`;

  /** A whole login through the dev IdP's login page; never throws for a broker answer. */
  async function login(account: string, profileId = 'guide'): Promise<LoginEnd> {
    const started = await startLogin(brokerUrl, profileId);
    if (started.status !== 307 || !started.location.startsWith(idp.url)) {
      return classify(started.status, started.location, returnUrl(), failureRedirect());
    }
    const callbackUrl = await loginWithDevIdp(started.location, account);
    const done = await hop(callbackUrl, { headers: { cookie: started.cookie } });
    const end = classify(done.status, done.location, returnUrl(), failureRedirect());
    if (end.kind === 'success') successesSeen++;
    return end;
  }

  beforeAll(async () => {
    pgServer = await startEmbeddedPostgres({ dir: path.join(mkdtempSync(path.join(tmpdir(), 'faults-pg-')), 'pg') });
    const port = await freePort();
    brokerUrl = `http://127.0.0.1:${port}`;
    idp = await startDevIdp({
      env: {
        DEV_IDP_PUBLIC_HOST: '127.0.0.1',
        DEV_IDP_CLIENTS: JSON.stringify([
          {
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            redirect_uris: ['guide', 'nofail'].map((id) => `${brokerUrl}/auth/${id}/openid-connect/callback`),
          },
        ]),
      },
    });
    portal = await startPortalEmulator({ apiSecret: PORTAL_SECRET, adminToken: PORTAL_TOKEN });
    broker = await startTestBroker(
      testConfig({
        DATABASE_URL: pgServer.url,
        DATABASE_MIGRATION_URL: pgServer.migrationUrl,
        TYK_IB_SECRET: ADMIN_SECRET,
        TYK_PORTAL_TIMEOUT_MS: '1000',
        BROKER_AUDIT_SEAL_INTERVAL_MS: '200',
        BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0',
        ...portalEnv(portal),
      }),
      port,
    );
    const creds = {
      key: CLIENT_ID,
      secret: CLIENT_SECRET,
      discoverUrl: `${idp.issuer}/.well-known/openid-configuration`,
    };
    await putProfile(brokerUrl, profileFor('guide', brokerUrl, portal, creds));
    await putProfile(brokerUrl, profileFor('nofail', brokerUrl, portal, creds, { failureRedirect: false }));
    sql = new pg.Client({ connectionString: pgServer.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end().catch(() => undefined);
    await broker?.close();
    await portal?.stop();
    await idp?.stop();
    await pgServer?.stop();
  });

  it('should sign a developer in before anything breaks', async () => {
    expect(await login('alice')).toMatchObject({ kind: 'success' });
  });

  it('should end logins at FailureRedirect?error=unavailable while Postgres is down, report not ready, stay up, and recover on its own', async () => {
    // Browsers keep signing in while the database goes away and comes back.
    let running = true;
    const outcomes: (LoginEnd & { at: number; account: string })[] = [];
    const worker = async (account: string) => {
      while (running) {
        const end = await login(account);
        outcomes.push({ ...end, at: Date.now(), account });
        // A browser retries after a moment, not in a tight loop.
        if (end.kind !== 'success') await sleep(50);
      }
    };
    const accounts = ['alice', 'bob', 'carol', 'erin'];
    const workers = accounts.map((a) => worker(a));
    await sleep(500);

    // A login that got its code before the outage and comes back during it.
    const pending = await startLogin(brokerUrl, 'guide');
    const pendingCallback = await loginWithDevIdp(pending.location, 'frank');

    await sql.end();
    await pgServer.stop();
    try {
      const started = await startLogin(brokerUrl, 'guide');
      expect(started.status).toBe(302);
      expect(started.location).toBe(`${failureRedirect()}&error=unavailable`);

      const finished = await hop(pendingCallback, { headers: { cookie: pending.cookie } });
      expect(finished.status).toBe(302);
      expect(finished.location).toBe(`${failureRedirect()}&error=unavailable`);

      const page = await fetch(`${brokerUrl}/auth/nofail/openid-connect`, { redirect: 'manual' });
      expect(page.status).toBe(503);
      expect(await page.text()).toContain('unavailable');

      const ready = await fetch(`${brokerUrl}/health/ready`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { error: { code: string } }).error.code).toBe('unavailable');
      expect((await fetch(`${brokerUrl}/health/live`)).status).toBe(200);

      // The admin API answers 503, not 500, and refusals still work without the database.
      const admin = await fetch(`${brokerUrl}/api/developers`, { headers: { Authorization: ADMIN_SECRET } });
      expect(admin.status).toBe(503);
      expect((await fetch(`${brokerUrl}/api/developers`, { headers: { Authorization: 'wrong' } })).status).toBe(401);
      await sleep(1000);
    } finally {
      await pgServer.start();
    }
    const back = Date.now();
    let recoveredAfterMs = -1;
    while (Date.now() - back < 15_000) {
      const end = await login('alice');
      if (end.kind === 'success') {
        recoveredAfterMs = Date.now() - back;
        break;
      }
      expect(end).toEqual(expect.objectContaining({ kind: 'failure', code: 'unavailable' }));
      await sleep(100);
    }
    expect(recoveredAfterMs).toBeGreaterThanOrEqual(0);
    expect(recoveredAfterMs).toBeLessThan(10_000);
    expect((await fetch(`${brokerUrl}/health/ready`)).status).toBe(200);
    // Every browser signs in again, without a restart.
    const recovered = () =>
      accounts.every((a) => outcomes.some((o) => o.account === a && o.at > back && o.kind === 'success'));
    while (!recovered() && Date.now() - back < 15_000) await sleep(100);
    running = false;
    await Promise.all(workers);
    expect(recovered()).toBe(true);

    sql = new pg.Client({ connectionString: pgServer.url });
    await sql.connect();
    const unexpected = outcomes.filter(
      (o) => o.kind !== 'success' && !(o.kind === 'failure' && o.code === 'unavailable'),
    );
    expect(unexpected).toEqual([]);
    expect(outcomes.some((o) => o.kind === 'failure')).toBe(true);
    expect(outcomes.some((o) => o.kind === 'success')).toBe(true);
    expect(unhandled).toEqual([]);
  });

  it('should leave no half-written developer or audit event: one login.succeeded per login seen, an intact chain', async () => {
    const { rows: counts } = await sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE type = 'login.succeeded'",
    );
    expect(counts[0].n).toBe(successesSeen);
    // Every success names a developer that exists, whole.
    const { rows: orphans } = await sql.query(
      `SELECT e.id FROM audit_events e LEFT JOIN developers d ON d.id = e.developer_id
        WHERE e.type = 'login.succeeded' AND (d.id IS NULL OR d.email IS NULL OR d.first_login_at IS NULL OR d.login_count < 1)`,
    );
    expect(orphans).toEqual([]);
    const { rows: dups } = await sql.query(
      'SELECT issuer, subject FROM developers GROUP BY issuer, subject HAVING count(*) > 1',
    );
    expect(dups).toEqual([]);
    let verify: { status: string; unsealed: number; count: number } = { status: '', unsealed: -1, count: 0 };
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${brokerUrl}/api/audit/verify`, { headers: { Authorization: ADMIN_SECRET } });
      verify = (await res.json()) as typeof verify;
      if (res.status === 200 && verify.unsealed === 0) break;
      await sleep(200);
    }
    expect(verify).toMatchObject({ status: 'intact', unsealed: 0 });
    // The last verify recorded its own result (audit.verified) after it counted; earlier ones are counted.
    const { rows: all } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events
        WHERE id <> (SELECT max(id) FROM audit_events WHERE type = 'audit.verified')`,
    );
    expect(verify.count).toBe(all[0].n);
  });

  it('should end at FailureRedirect with portal_timeout when the portal answers slower than TYK_PORTAL_TIMEOUT_MS, and audit it', async () => {
    portal.setFaults({ latencyMs: 1600 });
    try {
      expect(await login('bob')).toEqual(expect.objectContaining({ kind: 'failure', code: 'portal_timeout' }));
    } finally {
      portal.clearFaults();
    }
    expect(await latestFailureReason(sql)).toBe('portal_timeout');
  });

  it('should end at FailureRedirect with portal_rejected when the portal answers 5xx, and audit it', async () => {
    portal.setFaults({ failStatus: 500 });
    try {
      expect(await login('bob')).toEqual(expect.objectContaining({ kind: 'failure', code: 'portal_rejected' }));
    } finally {
      portal.clearFaults();
    }
    expect(await latestFailureReason(sql)).toBe('portal_rejected');
    expect(await login('bob')).toMatchObject({ kind: 'success' });
  });

  it('should end at FailureRedirect with portal_unreachable when the portal refuses connections, and audit it', async () => {
    const port = Number(new URL(portal.url).port);
    await portal.stop();
    try {
      expect(await login('carol')).toEqual(expect.objectContaining({ kind: 'failure', code: 'portal_unreachable' }));
      expect(await latestFailureReason(sql)).toBe('portal_unreachable');
    } finally {
      portal = await startPortalEmulator({ port, apiSecret: PORTAL_SECRET, adminToken: PORTAL_TOKEN });
    }
    expect(await login('carol')).toMatchObject({ kind: 'success' });
    expect(unhandled).toEqual([]);
  });
});

describe('faults: the identity provider (real broker, fake IdP)', () => {
  let db: TestDatabase;
  let fake: FakeIdp;
  let late: FakeIdp;
  let portal: PortalEmulator;
  let broker: TestBroker;
  let sql: pg.Client;
  let port: number;
  let brokerUrl: string;

  const bootBroker = async () =>
    startTestBroker(
      testConfig({
        DATABASE_URL: db.url,
        TYK_IB_SECRET: ADMIN_SECRET,
        BROKER_IDP_TIMEOUT_MS: '800',
        BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0',
        ...portalEnv(portal),
      }),
      port,
    );

  async function login(profileId: string, idp: FakeIdp): Promise<LoginEnd> {
    const started = await startLogin(brokerUrl, profileId);
    if (started.status !== 307 || !started.location.startsWith(idp.issuer)) {
      return classify(started.status, started.location, `${portal.url}/sso`, `${portal.url}/?fail=true`);
    }
    const authorized = await hop(started.location);
    expect(authorized.status).toBe(302);
    const done = await hop(authorized.location, { headers: { cookie: started.cookie } });
    return classify(done.status, done.location, `${portal.url}/sso`, `${portal.url}/?fail=true`);
  }

  beforeAll(async () => {
    db = await createTestDatabase('faults_idp');
    fake = await startFakeIdp();
    // Its own subject: the same `sub` from a second IdP holds the same portal SSO key, which the
    // broker refuses (portal_rejected).
    late = await startFakeIdp({
      tenantPath: '/late/developers',
      knobs: { user: { sub: 'late-123', email: 'late@example.com', email_verified: true, name: 'Late Dev' } },
    });
    portal = await startPortalEmulator({ apiSecret: PORTAL_SECRET, adminToken: PORTAL_TOKEN });
    port = await freePort();
    brokerUrl = `http://127.0.0.1:${port}`;
    broker = await bootBroker();
    const creds = (i: FakeIdp) => ({ key: i.clientId, secret: i.clientSecret, discoverUrl: i.discoverUrl });
    await putProfile(brokerUrl, profileFor('fake', brokerUrl, portal, creds(fake)));
    await putProfile(brokerUrl, profileFor('late', brokerUrl, portal, creds(late)));
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await broker?.close();
    await portal?.stop();
    await fake?.stop();
    await late?.stop();
    await db?.drop();
  });

  beforeEach(() => {
    fake.reset();
    fake.resetCalls();
  });

  it('should sign in through the fake IdP when nothing is wrong', async () => {
    expect(await login('fake', fake)).toMatchObject({ kind: 'success' });
  });

  it('should end at FailureRedirect with token_exchange_failed when the token endpoint is slower than the IdP timeout', async () => {
    fake.set({ tokenDelayMs: 1500 });
    const started = Date.now();
    expect(await login('fake', fake)).toEqual(
      expect.objectContaining({ kind: 'failure', code: 'token_exchange_failed' }),
    );
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await latestFailureReason(sql)).toBe('token_exchange_failed');
  });

  it('should end at FailureRedirect with token_exchange_failed when the token endpoint drops the connection', async () => {
    fake.set({ tokenDown: true });
    expect(await login('fake', fake)).toEqual(
      expect.objectContaining({ kind: 'failure', code: 'token_exchange_failed' }),
    );
    expect(fake.calls.token).toBe(1);
    expect(fake.calls.userinfo).toBe(0);
  });

  it('should keep signing developers in on cached keys while the JWKS endpoint is down', async () => {
    expect(await login('fake', fake)).toMatchObject({ kind: 'success' });
    fake.set({ jwksDown: true });
    const jwksCalls = fake.calls.jwks;
    for (let i = 0; i < 3; i++) expect(await login('fake', fake)).toMatchObject({ kind: 'success' });
    expect(fake.calls.jwks).toBe(jwksCalls);
  });

  it("should start while a profile's discovery is down, fail that profile with discovery_failed, keep the others working, and heal when the IdP is back", async () => {
    await broker.close();
    late.set({ discoveryDown: true });
    broker = await bootBroker();
    expect((await fetch(`${brokerUrl}/health/ready`)).status).toBe(200);

    expect(await login('late', late)).toEqual(expect.objectContaining({ kind: 'failure', code: 'discovery_failed' }));
    expect(await latestFailureReason(sql)).toBe('discovery_failed');
    expect(await login('fake', fake)).toMatchObject({ kind: 'success' });

    late.set({ discoveryDown: false });
    expect(await login('late', late)).toMatchObject({ kind: 'success' });
    expect(unhandled).toEqual([]);
  });
});
