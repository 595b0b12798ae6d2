import pg from 'pg';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { startAuditApp, type AuditApp } from '@test/support/audit-app.js';
import { OLDEST_UNSEALED_SQL } from './audit-chain.repository.js';

/**
 * The sealer's state for /health/ready: `stalled` once the oldest unsealed event waits longer than
 * BROKER_AUDIT_SEALER_STALLED_SECONDS, read with one probe of the unsealed-events index.
 */
describe('audit sealer state (real Postgres)', () => {
  let db: TestDatabase;
  let b: AuditApp;

  beforeAll(async () => {
    db = await createTestDatabase('sealer');
    b = await startAuditApp(db, { env: { BROKER_AUDIT_SEALER_STALLED_SECONDS: '1' } });
  });

  afterAll(async () => {
    await b?.app.close();
    await db?.drop();
  });

  const login = (i: number) =>
    b.audit.record({ type: 'login.succeeded', outcome: 'success', actor: `developer:${i}`, requestId: `r${i}` });

  it('should be ok while events are sealed, and stalled while sealing is held off past the threshold', async () => {
    await login(1);
    await b.audit.sealNow();
    expect(await b.audit.sealerState()).toEqual({ state: 'ok', oldestUnsealedSeconds: 0, stalledAfterSeconds: 1 });

    // Whoever holds the sealer's advisory lock (a hung instance, or anyone with the runtime role)
    // holds off sealing on every instance.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtext('broker.audit.sealer'))`);
      // The background sealer (every second) tries and finds the lock taken.
      await login(2);
      // Waiting, but not for longer than the threshold yet.
      expect(await b.audit.sealerState()).toMatchObject({ state: 'ok' });
      await new Promise((r) => setTimeout(r, 1600));
      expect(await b.audit.sealerState()).toEqual({
        state: 'stalled',
        oldestUnsealedSeconds: expect.any(Number),
        stalledAfterSeconds: 1,
      });
      expect((await b.audit.sealerState()).oldestUnsealedSeconds).toBeGreaterThanOrEqual(1);
    } finally {
      await holder.end();
    }
    expect(await b.audit.sealNow()).toBeGreaterThan(0);
    expect(await b.audit.sealerState()).toEqual({ state: 'ok', oldestUnsealedSeconds: 0, stalledAfterSeconds: 1 });
  });

  it('should read the oldest unsealed event from the unsealed-events index, not by scanning the table', async () => {
    // A log of 50,000 sealed events and a few waiting (written as the runtime role, sealed by the
    // owner's function as the sealer does).
    await b.ds.query(
      `INSERT INTO audit_events (type, outcome, actor, request_id)
       SELECT 'login.succeeded', 'success', 'developer:' || i, 'bulk' || i FROM generate_series(1, 50000) i`,
    );
    while ((await b.audit.sealNow()) > 0);
    for (let i = 3; i < 6; i++) await login(i);
    await asSuperuser(db, (c) => c.query('ANALYZE audit_events'));
    const [{ 'QUERY PLAN': plan }] = await b.ds.query<{ 'QUERY PLAN': unknown }[]>(
      `EXPLAIN (FORMAT JSON) ${OLDEST_UNSEALED_SQL}`,
    );
    const text = JSON.stringify(plan);
    expect(text).toContain('"Index Name":"IDX_audit_events_unsealed"');
    expect(text).not.toContain('Seq Scan');
    // And it reads one row of that index, not the 50,000 sealed ones.
    const [{ 'QUERY PLAN': analyzed }] = await b.ds.query<{ 'QUERY PLAN': Array<{ Plan: Record<string, unknown> }> }[]>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${OLDEST_UNSEALED_SQL}`,
    );
    const rowsRead = JSON.stringify(analyzed).match(/"Actual Rows":(\d+(?:\.\d+)?)/g) ?? [];
    expect(rowsRead.map((r) => Number(r.split(':')[1]))).toEqual(rowsRead.map(() => 1));
  });
});
