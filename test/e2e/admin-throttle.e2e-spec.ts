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

  it('should answer a token 503 while the issuer is down, never 401, audited or counted towards 429', async () => {
    // Nothing listens on the discard port: the issuer's discovery cannot be fetched.
    const issuerDown = await boot({
      BROKER_ADMIN_OIDC_ISSUER: 'http://127.0.0.1:9',
      BROKER_ADMIN_OIDC_AUDIENCE: 'urn:portal-sso-broker:admin',
    });
    try {
      const client = '198.51.100.77';
      const token = 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl';
      for (let i = 0; i < 5; i++) expect((await profiles(issuerDown, client, token)).status).toBe(503);
      // None of them counted: this client's first bad secret is a plain 401, not a 429.
      expect((await profiles(issuerDown, client, 'guess-0')).status).toBe(401);
      expect((await profiles(issuerDown, client, ADMIN_SECRET)).status).toBe(200);
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      const { rows } = await sql.query<{ n: string }>(
        `SELECT count(*) AS n FROM audit_events e JOIN audit_event_personal p ON p.event_id = e.id
          WHERE e.type = 'admin.auth_failed' AND host(p.ip) = $1`,
        [client],
      );
      await sql.end();
      // Only the bad secret was audited.
      expect(Number(rows[0].n)).toBe(1);
    } finally {
      await issuerDown.close();
    }
  });
});
