import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { commitModeOf, createTestDatabase, singleConnection, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { AuditModule } from './audit.module.js';
import { AuditService } from './audit.service.js';
import { InsertBatcher } from './audit-insert-batcher.js';
import { INSERT_MANY_SQL, INSERT_SQL, insertManyParams, insertParams } from './audit-record.js';

const event = (i: number) => ({
  type: 'login.succeeded' as const,
  outcome: 'success' as const,
  actor: `developer:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  developerId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  profileId: 'p1',
  ...(i % 5 === 0 ? {} : { ip: `198.51.100.${i % 250}`, userAgent: `agent-${i}` }),
  requestId: `r-${i}`,
  details: { n: i },
});

interface Row {
  id: string;
  xmin: string;
  request_id: string;
  developer_id: string;
  n: number;
  ip: string | null;
  user_agent: string | null;
}

/**
 * Group commit of the audit events recorded on their own (issue 19): many events per statement
 * under load, each caller given its own event's id, the personal fields on the right events, one
 * refused event not costing the others, and the batch's commit as durable as a single event's.
 */
describe('audit insert batching (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let audit: AuditService;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('audit_batch');
    app = await createLibApp(db, AuditModule, { DATABASE_MIGRATION_URL: db.migrationUrl });
    await app.init();
    audit = app.get(AuditService);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const rows = (ids: string[]) =>
    ds.query<Row[]>(
      `SELECT e.id::text AS id, e.xmin::text AS xmin, e.request_id, e.developer_id::text AS developer_id,
              (e.details->>'n')::int AS n, host(p.ip) AS ip, p.user_agent
         FROM audit_events e LEFT JOIN audit_event_personal p ON p.event_id = e.id
        WHERE e.id = ANY($1::bigint[])`,
      [ids],
    );

  it('should write concurrent events in shared statements and give every caller its own event', async () => {
    const n = 300;
    const ids = (await Promise.all(Array.from({ length: n }, (_, i) => audit.record(event(i))))).map((r) => r.id);
    expect(new Set(ids).size).toBe(n);
    const byId = new Map((await rows(ids)).map((r) => [r.id, r]));
    ids.forEach((id, i) => {
      const row = byId.get(id);
      expect(row).toMatchObject({
        request_id: `r-${i}`,
        n: i,
        developer_id: event(i).developerId,
        ip: i % 5 === 0 ? null : `198.51.100.${i % 250}`,
        user_agent: i % 5 === 0 ? null : `agent-${i}`,
      });
    });
    // Events of one statement share its transaction id: far fewer commits than events.
    const commits = new Set([...byId.values()].map((r) => r.xmin)).size;
    expect(commits).toBeLessThan(n / 4);
    // The sealer chains them like any others.
    await audit.sealNow();
    await expect(audit.verify({ mode: 'full' })).resolves.toMatchObject({ status: 'intact' });
  });

  it("should commit the other events of a batch when Postgres refuses one event's values", async () => {
    const batcher = new InsertBatcher<(string | null)[]>(
      async (params) => (await ds.query<{ id: string }[]>(INSERT_SQL, params))[0],
      (events) => ds.query<{ id: string }[]>(INSERT_MANY_SQL, insertManyParams(events)),
      { maxInFlight: 1, maxBatch: 64 },
    );
    const params = [0, 1, 2, 3].map((i) => insertParams(event(1000 + i)));
    params[2][11] = '{"not json'; // what no broker-made event carries: jsonb refuses it (22P02)
    const results = await Promise.allSettled(params.map((p) => batcher.add(p)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: '22P02' });
    const ids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []));
    const found = await rows(ids);
    expect(found.map((r) => r.request_id).sort()).toEqual(['r-1000', 'r-1001', 'r-1003']);
  });

  it('should commit a batch durably when the broker role has synchronous_commit off', async () => {
    await ds.query('ALTER ROLE CURRENT_USER SET synchronous_commit = off');
    const single = await singleConnection(db.url);
    try {
      const events = [insertParams(event(2000)), insertParams(event(2001))];
      await expect(
        commitModeOf(single, () => single.query(INSERT_MANY_SQL, insertManyParams(events))),
      ).resolves.toEqual({ atCommit: 'on', after: 'off' });
    } finally {
      await single.destroy();
      await ds.query('ALTER ROLE CURRENT_USER RESET synchronous_commit');
    }
  });
});
