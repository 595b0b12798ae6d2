import pg from 'pg';
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
