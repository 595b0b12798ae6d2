import {
  countEvents,
  failedLogins,
  LOAD_ADMIN_SECRET,
  runLoad,
  startLoadStack,
  verifyChain,
  type LoadRun,
  type LoadStack,
} from '../soak/support/load-scenario.js';

/**
 * The fast part of the load run (the soak suite, `npm run test:soak`, does 5,000 and 50,000):
 * 1,000 logins at concurrency 50 against the broker in-process on real Postgres, the portal
 * emulator (child process) and an IdP that signs in at once. Measured on two busy cores: about
 * 45 logins a second, so 1,000 take ~23 s and 5,000 would take ~2 minutes, too long for `npm test`.
 */
const LOGINS = 1000;
const CONCURRENCY = 50;

describe('load: 1,000 logins at concurrency 50 (e2e)', () => {
  let stack: LoadStack;
  let run: LoadRun;

  beforeAll(async () => {
    stack = await startLoadStack({ users: 200, orgs: 10 });
    run = await runLoad(stack, LOGINS, CONCURRENCY);
    process.stdout.write(
      `load e2e: ${JSON.stringify({ ...run.summary, heapMb: run.heapMb, rssMb: run.rssMb, gc: run.gcAvailable })}\n`,
    );
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('should sign every developer in, with no 5xx and no failure', async () => {
    expect(run.summary.logins).toBe(LOGINS);
    expect(run.summary.fiveXx).toBe(0);
    expect(run.summary.others).toEqual([]);
    // With the recorded reasons, so a failure under a starved CI machine says where it happened.
    const failing = Object.keys(run.summary.failures).length > 0;
    const failed = failing ? await failedLogins(stack.sql) : [];
    const logged = failing ? stack.broker.logs.lines.filter((l) => l.includes('"level":50')).slice(0, 20) : [];
    expect({ failures: run.summary.failures, failed, logged }).toEqual({ failures: {}, failed: [], logged: [] });
    expect(run.summary.successes).toBe(LOGINS);
  });

  it('should record exactly one login.succeeded per successful login, and no login.failed', async () => {
    expect(await countEvents(stack.sql, 'login.succeeded')).toBe(run.summary.successes);
    expect(await countEvents(stack.sql, 'login.failed')).toBe(0);
  });

  it('should keep one developer per subject, each with its login count', async () => {
    const { rows } = await stack.sql.query<{ n: number; total: number }>(
      'SELECT count(*)::int AS n, sum(login_count)::int AS total FROM developers',
    );
    expect(rows[0]).toEqual({ n: 200, total: LOGINS });
  });

  it('should leave an intact audit chain covering every event', async () => {
    const verify = await verifyChain(stack.broker.url, LOAD_ADMIN_SECRET);
    expect(verify.status).toBe('intact');
    expect(verify.unsealed).toBe(0);
    // The last verify recorded its own result (audit.verified) after it counted; earlier ones are counted.
    const { rows } = await stack.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events
        WHERE id <> (SELECT max(id) FROM audit_events WHERE type = 'audit.verified')`,
    );
    expect(verify.count).toBe(rows[0].n);
  });

  it('should leave no login state behind', async () => {
    const { rows } = await stack.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM login_states');
    expect(rows[0].n).toBe(0);
  });

  it('should keep the heap roughly flat between the first and the second half', () => {
    const [first, second] = run.heapMb;
    // Warm-up (JIT, pools, caches) lands in the first half; a per-login leak shows in the second.
    expect(second - first).toBeLessThan(Math.max(16, first * 0.15));
  });
});
