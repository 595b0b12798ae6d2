import { freePort } from '@app/database';
import pg from 'pg';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';
import { startStack, type Stack } from '@test/support/stack.js';

/**
 * Starting a console sign-in is open to anyone and stores a pending row: the row stays small, the
 * expired ones go without any staff sign-in, and a flood from one client is cut off.
 */
describe('console sign-in start under a flood (dev IdP, real Postgres)', () => {
  let stack: Stack;
  let sql: pg.Client;

  beforeAll(async () => {
    stack = await startStack({ console: true });
    sql = new pg.Client({ connectionString: stack.db.url });
    await sql.connect();
  }, 120_000);

  afterAll(async () => {
    await sql?.end();
    await stack?.stop();
  });

  const start = (query = '') =>
    fetch(`${stack.broker.url}/console/sign-in${query}`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  const pending = async () =>
    (
      await sql.query<{ n: number; expired: number; longest: number }>(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE expires_at <= now())::int AS expired,
                coalesce(max(length(return_to)), 0)::int AS longest
           FROM console_sessions WHERE kind = 'pending'`,
      )
    ).rows[0];

  it('should store a return path of at most 512 characters, and send a longer one back to /console', async () => {
    await sql.query(`DELETE FROM console_sessions`);
    const ok = `/console/events?q=${'a'.repeat(512 - '/console/events?q='.length)}`;
    expect((await start(`?return_to=${encodeURIComponent(ok)}`)).status).toBe(302);
    const stored = await sql.query<{ return_to: string }>(`SELECT return_to FROM console_sessions`);
    expect(stored.rows.map((r) => r.return_to)).toEqual([ok]);

    await sql.query(`DELETE FROM console_sessions`);
    const long = `/console/events?q=${'a'.repeat(16_000)}`;
    expect((await start(`?return_to=${encodeURIComponent(long)}`)).status).toBe(302);
    expect(await pending()).toMatchObject({ n: 1, longest: '/console'.length });
  }, 60_000);

  it('should remove expired sign-ins when a new one starts, without any staff sign-in, in bounded batches', async () => {
    await sql.query(`DELETE FROM console_sessions`);
    // 150 abandoned sign-ins, long expired, as a flood leaves them behind.
    await sql.query(
      `INSERT INTO console_sessions (id_hash, kind, state, nonce, verifier, return_to, expires_at)
       SELECT sha256(i::text::bytea), 'pending', 's', 'n', 'v', '/console', now() - interval '1 hour'
         FROM generate_series(1, 150) AS i`,
    );
    expect((await start()).status).toBe(302);
    // At most 100 per start: the start that finds a big backlog stays cheap.
    expect(await pending()).toMatchObject({ n: 51, expired: 50 });
    expect((await start()).status).toBe(302);
    expect(await pending()).toMatchObject({ n: 2, expired: 0 });
  }, 60_000);

  // Runs last: it leaves this client rate-limited for the rest of the minute.
  it('should answer 429 with Retry-After to the 31st start from one client within a minute', async () => {
    await sql.query(`DELETE FROM console_sessions`);
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 40; i++) {
      const res = await start();
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
      await res.arrayBuffer();
    }
    // Two starts above came from this client already within the window (the limit is 30 a minute).
    expect(statuses.filter((s) => s === 302).length).toBeLessThanOrEqual(30);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(10);
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited?.headers.get('content-type')).toMatch(/^text\/html/);
    // Refused starts store nothing.
    expect((await pending()).n).toBe(statuses.filter((s) => s === 302).length);
  }, 60_000);
});

/**
 * The console's callback is checked as the developer login's is (oidc-rp.md): the RFC 9207 `iss`
 * parameter against the discovery document, and the ID token's `azp` when it has several
 * audiences. The fake IdP is the admin issuer here, so each rule can be broken on its own.
 */
describe('console sign-in callback checks (fake IdP, real Postgres)', () => {
  let db: TestDatabase;
  let idp: FakeIdp;
  let broker: TestBroker;
  const staff = { sub: 'sam-auditor', name: 'Sam Auditor', roles: ['broker:auditor'] };
  const consoleClient = 'broker-console';

  beforeAll(async () => {
    db = await createTestDatabase('consolecb');
    idp = await startFakeIdp({ tenantPath: '/acme/security', clientId: consoleClient, knobs: { user: staff } });
    const port = await freePort();
    broker = await startTestBroker(
      testConfig({
        DATABASE_URL: db.url,
        BROKER_ADMIN_OIDC_ISSUER: idp.issuer,
        BROKER_ADMIN_OIDC_AUDIENCE: 'urn:portal-sso-broker:admin',
        BROKER_PUBLIC_URL: `http://127.0.0.1:${port}`,
        BROKER_CONSOLE_CLIENT_ID: idp.clientId,
        BROKER_CONSOLE_CLIENT_SECRET: idp.clientSecret,
      }),
      port,
    );
  }, 120_000);

  afterAll(async () => {
    await broker?.close();
    await idp?.stop();
    await db?.drop();
  });

  afterEach(() => idp.reset());

  const cookieOf = (res: Response, name: string): string | undefined =>
    res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .find((c) => c.startsWith(`${name}=`) && c.length > name.length + 1);

  /** One sign-in through the fake IdP: the callback's answer. */
  async function signIn(): Promise<Response> {
    const opts = { redirect: 'manual' as const, signal: AbortSignal.timeout(10_000) };
    const start = await fetch(`${broker.url}/console/sign-in`, opts);
    expect(start.status).toBe(302);
    const pending = cookieOf(start, 'broker_console_signin');
    expect(pending).toBeDefined();
    const authorize = await fetch(start.headers.get('location')!, opts);
    expect(authorize.status).toBe(302);
    const callback = authorize.headers.get('location')!;
    expect(callback.startsWith(`${broker.url}/console/callback?`)).toBe(true);
    return fetch(callback, { ...opts, headers: { cookie: pending! } });
  }

  const signedIn = (res: Response) => res.status === 302 && cookieOf(res, 'broker_console') !== undefined;

  it('should sign in with the issuer in iss and a token for the console alone, or for several audiences with azp = the console', async () => {
    const plain = await signIn();
    expect(plain.headers.get('location')).toBe('/console');
    expect(signedIn(plain)).toBe(true);
    idp.set({ aud: [idp.clientId, 'another-api'], azp: idp.clientId });
    expect(signedIn(await signIn())).toBe(true);
  }, 60_000);

  it.each([
    ['several audiences, azp naming another client', { aud: [consoleClient, 'another-client'], azp: 'another-client' }],
    ['several audiences, no azp', { aud: [consoleClient, 'another-client'] }],
    ['one audience, azp naming another client', { azp: 'another-client' }],
  ])(
    'should refuse an ID token with %s',
    async (_name, knobs) => {
      idp.set(knobs);
      idp.resetCalls();
      const res = await signIn();
      expect(res.status).toBe(401);
      expect(cookieOf(res, 'broker_console')).toBeUndefined();
      // Refused at the ID token: the code was exchanged, and only the azp differs from the sign-in above.
      expect(idp.calls.token).toBe(1);
    },
    60_000,
  );

  it.each([
    ['names another issuer', 'wrong' as const],
    ['is missing although discovery says the IdP always sends it', 'omit' as const],
  ])(
    'should refuse a callback whose iss %s, before the code is exchanged',
    async (_name, issParam) => {
      idp.set({ issParam });
      idp.resetCalls();
      const res = await signIn();
      expect(res.status).toBe(401);
      expect(cookieOf(res, 'broker_console')).toBeUndefined();
      // The code may be another issuer's (mix-up): it is never sent to our token endpoint.
      expect(idp.calls.token).toBe(0);
    },
    60_000,
  );
});
