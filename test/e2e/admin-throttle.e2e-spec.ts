import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';

/**
 * The failed-admin-authentication throttle (issue 13, finding 8): it never refuses valid
 * credentials, counts IPv6 clients per /64, and says so once when a proxy that is not trusted
 * sends X-Forwarded-For (every client behind it then shares one bucket).
 */

const ADMIN_SECRET = 'admin-throttle-secret-3391';

describe('admin throttle (real broker)', () => {
  let db: TestDatabase;
  let trusted: TestBroker;
  let untrusted: TestBroker;

  const boot = (env: Record<string, string>) =>
    startTestBroker(
      testConfig({
        DATABASE_URL: db.url,
        TYK_IB_SECRET: ADMIN_SECRET,
        BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '3',
        ...env,
      }),
    );

  const profiles = (broker: TestBroker, from: string | null, authorization: string) =>
    fetch(`${broker.url}/api/profiles`, {
      headers: { Authorization: authorization, ...(from ? { 'X-Forwarded-For': from } : {}) },
    });

  beforeAll(async () => {
    db = await createTestDatabase('admin_throttle');
    trusted = await boot({});
    // A proxy that is not loopback: the test's requests come from an untrusted peer.
    untrusted = await boot({ BROKER_TRUSTED_PROXIES: '192.0.2.10' });
  });

  afterAll(async () => {
    await trusted?.close();
    await untrusted?.close();
    await db?.drop();
  });

  it('should never refuse the right secret from an address that is locked out for bad ones', async () => {
    const attacker = '198.51.100.20';
    for (let i = 0; i < 3; i++) expect((await profiles(trusted, attacker, `guess-${i}`)).status).toBe(401);
    expect((await profiles(trusted, attacker, 'guess-3')).status).toBe(429);
    // The admin behind the same address (same NAT) still gets in, every time.
    for (let i = 0; i < 3; i++) expect((await profiles(trusted, attacker, ADMIN_SECRET)).status).toBe(200);
    expect((await profiles(trusted, attacker, `Bearer ${ADMIN_SECRET}`)).status).toBe(200);
  });

  it('should count IPv6 clients per /64: another address in the prefix is throttled, the next prefix is not', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await profiles(trusted, `2001:db8:aa:bb::${i + 1}`, `guess-${i}`)).status).toBe(401);
    }
    expect((await profiles(trusted, '2001:db8:aa:bb:ffff:1:2:3', 'guess-3')).status).toBe(429);
    expect((await profiles(trusted, '2001:db8:aa:bc::1', 'guess-4')).status).toBe(401);
  });

  it('should warn once when an untrusted peer sends X-Forwarded-For, and count every client behind it as one', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await profiles(untrusted, `203.0.113.${i + 1}`, `guess-${i}`)).status).toBe(401);
    }
    // A fourth "client" behind the untrusted proxy shares the proxy's bucket.
    expect((await profiles(untrusted, '203.0.113.99', 'guess-3')).status).toBe(429);
    // nestjs-pino keeps one root logger per process, so the lines of both instances are read together.
    const lines = [...trusted.logs.lines, ...untrusted.logs.lines];
    const warnings = lines.filter((l) => l.includes('not in BROKER_TRUSTED_PROXIES'));
    // One line for the untrusted peer; the X-Forwarded-For of the trusted loopback peer (the tests
    // above) never warned.
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0])).toMatchObject({ level: 40, context: 'ClientBuckets' });
  });

  it('should audit the refusals of the throttled client under its address', async () => {
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const { rows } = await sql.query<{ ip: string }>(
      // The address is a personal field, kept beside the chained record (audit_event_personal).
      `SELECT DISTINCT host(p.ip) AS ip FROM audit_events e JOIN audit_event_personal p ON p.event_id = e.id
        WHERE e.type = 'admin.auth_failed' ORDER BY 1`,
    );
    await sql.end();
    expect(rows.map((r) => r.ip)).toEqual(expect.arrayContaining(['198.51.100.20', '2001:db8:aa:bb::1']));
  });

  describe('BROKER_METRICS_TOKEN (review finding 3: the same throttle and audit as the admin API)', () => {
    const METRICS_TOKEN = 'metrics-throttle-token-8812';
    let metered: TestBroker;

    const call = (path: string, from: string, authorization?: string) =>
      fetch(`${metered.url}${path}`, {
        headers: { 'X-Forwarded-For': from, ...(authorization === undefined ? {} : { Authorization: authorization }) },
      });
    const audited = async (client: string) => {
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      try {
        const { rows } = await sql.query<{ target: string; reason: string; details: Record<string, unknown> }>(
          `SELECT e.target, e.reason, e.details FROM audit_events e JOIN audit_event_personal p ON p.event_id = e.id
            WHERE e.type = 'admin.auth_failed' AND host(p.ip) = $1 ORDER BY e.id`,
          [client],
        );
        return rows;
      } finally {
        await sql.end();
      }
    };

    beforeAll(async () => {
      metered = await boot({ BROKER_METRICS_TOKEN: METRICS_TOKEN });
    });

    afterAll(async () => {
      await metered?.close();
    });

    it('should answer 429 on /metrics after too many wrong tokens, audit them boundedly, and still let the right token in', async () => {
      const client = '198.51.100.31';
      expect((await call('/metrics', client)).status).toBe(401);
      for (let i = 0; i < 2; i++) expect((await call('/metrics', client, `Bearer guess-${i}`)).status).toBe(401);
      const throttled = await call('/metrics', client, 'Bearer guess-3');
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await call('/metrics', client, `Bearer ${METRICS_TOKEN}`)).status).toBe(200);
      // One event per client per 10 s, whatever the number of attempts.
      const events = await audited(client);
      expect(events).toEqual([{ target: 'GET /metrics', reason: 'unauthorized', details: { api: 'metrics' } }]);
    });

    it('should audit and count a wrong token on /health/ready but keep its reduced body (never 429), and leave probes without a token alone', async () => {
      const probe = '198.51.100.32';
      for (let i = 0; i < 5; i++) {
        const res = await call('/health/ready', probe);
        expect(res.status).toBe(200);
        expect(Object.keys(((await res.json()) as { details: object }).details)).toEqual(['database']);
      }
      expect(await audited(probe)).toEqual([]);

      const stale = '198.51.100.33';
      for (let i = 0; i < 5; i++) {
        const res = await call('/health/ready', stale, 'Bearer stale-token');
        expect(res.status).toBe(200);
        expect(Object.keys(((await res.json()) as { details: object }).details)).toEqual(['database']);
      }
      expect(await audited(stale)).toEqual([
        { target: 'GET /health/ready', reason: 'unauthorized', details: { api: 'metrics' } },
      ]);
      // Counted with the client's /metrics failures: it is throttled there now.
      expect((await call('/metrics', stale, 'Bearer stale-token')).status).toBe(429);
    });
  });

  describe('while the admin token issuer is down', () => {
    // Nothing listens on the discard port: the issuer's discovery cannot be fetched.
    const ISSUER = 'http://127.0.0.1:9';
    const AUDIENCE = 'urn:portal-sso-broker:admin';
    let issuerDown: TestBroker;
    let junkClients = 0;

    const b64 = (value: unknown) =>
      Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
    const now = () => Math.floor(Date.now() / 1000);
    const claims = (extra: Record<string, unknown> = {}) => ({
      iss: ISSUER,
      sub: 'sec-team-1',
      aud: AUDIENCE,
      iat: now(),
      exp: now() + 300,
      ...extra,
    });
    /** A token only the issuer's keys could refuse: its signature is random, but of an RS256 length. */
    const plausible = (payload: unknown = claims(), header: unknown = { alg: 'RS256', kid: 'k1' }, sigBytes = 256) =>
      `Bearer ${b64(header)}.${b64(payload)}.${randomBytes(sigBytes).toString('base64url')}`;

    const auditedFailures = async (client: string) => {
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      try {
        const { rows } = await sql.query<{ n: string }>(
          `SELECT count(*) AS n FROM audit_events e JOIN audit_event_personal p ON p.event_id = e.id
            WHERE e.type = 'admin.auth_failed' AND host(p.ip) = $1`,
          [client],
        );
        return Number(rows[0].n);
      } finally {
        await sql.end();
      }
    };

    beforeAll(async () => {
      issuerDown = await boot({ BROKER_ADMIN_OIDC_ISSUER: ISSUER, BROKER_ADMIN_OIDC_AUDIENCE: AUDIENCE });
    });

    afterAll(async () => {
      await issuerDown?.close();
    });

    it('should answer a token that could be valid 503, never 401, audited or counted towards 429', async () => {
      const client = '198.51.100.77';
      for (let i = 0; i < 5; i++) expect((await profiles(issuerDown, client, plausible())).status).toBe(503);
      // ES256 and the issuer written with its terminating slash can be valid too.
      expect((await profiles(issuerDown, client, plausible(claims(), { alg: 'ES256' }, 64))).status).toBe(503);
      expect((await profiles(issuerDown, client, plausible(claims({ iss: `${ISSUER}/` })))).status).toBe(503);
      // None of them counted: this client's first bad secret is a plain 401, not a 429.
      expect((await profiles(issuerDown, client, 'guess-0')).status).toBe(401);
      expect((await profiles(issuerDown, client, ADMIN_SECRET)).status).toBe(200);
      // Only the bad secret was audited.
      expect(await auditedFailures(client)).toBe(1);
    });

    it.each([
      ['three parts that are not base64url JSON', () => 'Bearer aaa.bbb.ccc'],
      [
        'a header that is not JSON',
        () => `Bearer ${b64('{alg')}.${b64(claims())}.${randomBytes(256).toString('base64url')}`,
      ],
      ['a payload that is not a JSON object', () => plausible('[1,2]')],
      ['alg none', () => `Bearer ${b64({ alg: 'none' })}.${b64(claims())}.`],
      ['an HMAC alg', () => plausible(claims(), { alg: 'HS256' }, 32)],
      ['an RS256 signature too short for any key it accepts', () => plausible(claims(), { alg: 'RS256' }, 128)],
      ['an ES256 signature of the wrong length', () => plausible(claims(), { alg: 'ES256' }, 256)],
      ['an expired token', () => plausible(claims({ iat: now() - 900, exp: now() - 300 }))],
      ['another issuer', () => plausible(claims({ iss: 'https://evil.example' }))],
      ['another audience', () => plausible(claims({ aud: 'another-api' }))],
      ['no exp', () => plausible(claims({ exp: undefined }))],
      ['an empty sub', () => plausible(claims({ sub: '' }))],
    ])('should refuse %s as 401, counted and audited like any failure', async (_name, make) => {
      const client = `198.51.100.${100 + junkClients++}`;
      expect((await profiles(issuerDown, client, make())).status).toBe(401);
      expect(await auditedFailures(client)).toBe(1);
    });

    it('should throttle junk tokens to 429 after the limit, and still accept the secret', async () => {
      const client = '2001:db8:dd:1::1';
      const expired = () => plausible(claims({ exp: now() - 300 }));
      for (let i = 0; i < 3; i++) expect((await profiles(issuerDown, client, expired())).status).toBe(401);
      expect((await profiles(issuerDown, '2001:db8:dd:1::2', expired())).status).toBe(429);
      expect((await profiles(issuerDown, client, ADMIN_SECRET)).status).toBe(200);
    });
  });
});
