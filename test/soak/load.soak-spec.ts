import { runInThisContext } from 'node:vm';
import fc from 'fast-check';
import { AUDIT_KEYS, CALLBACK_KEYS, DEVELOPER_KEYS, queryOf } from './support/hostile-arbitraries.js';
import {
  countEvents,
  LOAD_ADMIN_SECRET,
  runLoad,
  startLoadStack,
  verifyChain,
  type LoadStack,
} from './support/load-scenario.js';

/**
 * The long part of the reliability suite (`npm run test:soak`): 5,000 and 50,000 logins at
 * concurrency 50 against the broker in-process on real Postgres (portal emulator as a child
 * process, an IdP that signs in at once), then the hostile-input properties with a random seed
 * (printed, so a failure replays with it). Each run prints its numbers for the README.
 */

const CONCURRENCY = 50;
const MINUTE = 60_000;
const realProcess = runInThisContext('process') as NodeJS.Process;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(() => realProcess.on('unhandledRejection', onUnhandled));
afterAll(() => realProcess.off('unhandledRejection', onUnhandled));

async function soak(logins: number, users: number): Promise<void> {
  let stack: LoadStack | undefined;
  try {
    stack = await startLoadStack({ users, orgs: 20 });
    const run = await runLoad(stack, logins, CONCURRENCY);
    const succeeded = await countEvents(stack.sql, 'login.succeeded');
    const verify = await verifyChain(stack.broker.url, LOAD_ADMIN_SECRET, 120_000);
    const growthMb = run.heapMb[1] - run.heapMb[0];
    process.stdout.write(
      `soak ${logins}: ${JSON.stringify({ ...run.summary, succeededEvents: succeeded, chain: verify, heapMb: run.heapMb, rssMb: run.rssMb, gc: run.gcAvailable, growthMb })}\n`,
    );
    expect(run.summary.fiveXx).toBe(0);
    expect(run.summary.others).toEqual([]);
    expect(run.summary.failures).toEqual({});
    expect(run.summary.successes).toBe(logins);
    expect(succeeded).toBe(run.summary.successes);
    expect(await countEvents(stack.sql, 'login.failed')).toBe(0);
    expect(verify).toMatchObject({ status: 'intact', unsealed: 0 });
    const { rows } = await stack.sql.query<{ n: number; total: number }>(
      'SELECT count(*)::int AS n, sum(login_count)::int AS total FROM developers',
    );
    expect(rows[0]).toEqual({ n: Math.min(users, logins), total: logins });
    // A leak of a kilobyte per login would show as tens of MB over the second half of 50,000.
    expect(growthMb).toBeLessThan(Math.max(16, run.heapMb[0] * 0.15));
    expect(unhandled).toEqual([]);
  } finally {
    await stack?.stop();
  }
}

describe('soak: load (broker in-process, real Postgres)', () => {
  it(
    'should sign 5,000 developers in at concurrency 50 with no 5xx, one event each, an intact chain and a flat heap',
    () => soak(5_000, 1_000),
    30 * MINUTE,
  );

  it(
    'should sign 50,000 developers in at concurrency 50 with no 5xx, one event each, an intact chain and a flat heap',
    () => soak(50_000, 5_000),
    120 * MINUTE,
  );
});

describe('soak: hostile input with a random seed', () => {
  let stack: LoadStack;
  const seed = Date.now() % 2_147_483_647;

  beforeAll(async () => {
    process.stdout.write(`soak fuzz seed: ${seed}\n`);
    stack = await startLoadStack({ users: 10, orgs: 2 });
  }, 5 * MINUTE);

  afterAll(async () => {
    await stack?.stop();
  });

  it(
    'should never answer the callback with a 5xx, nor anywhere but FailureRedirect, whatever its query string',
    async () => {
      await fc.assert(
        fc.asyncProperty(queryOf(CALLBACK_KEYS), fc.constantFrom('GET', 'POST'), async (q, method) => {
          const res = await fetch(`${stack.broker.url}/auth/load/openid-connect/callback?${q}`, {
            method,
            redirect: 'manual',
          });
          await res.arrayBuffer();
          expect(res.status).toBe(302);
          expect(res.headers.get('location')?.startsWith(`${stack.target.failureRedirect}&error=`)).toBe(true);
        }),
        { seed, numRuns: 5_000 },
      );
      expect(unhandled).toEqual([]);
    },
    30 * MINUTE,
  );

  it(
    'should never answer the audit and developer APIs with a 5xx, whatever their query parameters',
    async () => {
      const route = fc.oneof(
        fc
          .constantFrom('/api/audit/events', '/api/audit/export', '/api/audit/verify')
          .chain((r) => queryOf(AUDIT_KEYS).map((q) => `${r}?${q}`)),
        fc.constant('/api/developers').chain((r) => queryOf(DEVELOPER_KEYS).map((q) => `${r}?${q}`)),
      );
      await fc.assert(
        fc.asyncProperty(route, async (r) => {
          const res = await fetch(`${stack.broker.url}${r}`, { headers: { Authorization: LOAD_ADMIN_SECRET } });
          await res.arrayBuffer();
          expect([200, 400]).toContain(res.status);
        }),
        { seed, numRuns: 5_000 },
      );
      expect(unhandled).toEqual([]);
    },
    30 * MINUTE,
  );
});
