import { jest } from '@jest/globals';
import { auditConfig, type AuditConfig } from '@app/config';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { commitModeOf, createTestDatabase, singleConnection, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditStreamRepository } from './stream/audit-stream.repository.js';
import { AuditChainService, FULL_VERIFY_CHECK_MS, FULL_VERIFY_FIRST_CHECK_MS } from './audit-chain.service.js';
import { AuditCheckpointsRepository } from './audit-checkpoints.repository.js';
import { AuditCheckpointsService } from './audit-checkpoints.service.js';
import { AuditEventsRepository } from './audit-events.repository.js';
import { AuditVerifyTrust } from './audit-verify-trust.js';
import { AuditModule } from './audit.module.js';
import { AuditService } from './audit.service.js';
import { AuditChainAnchorEntity, AuditChainHeadEntity } from './entities/audit-chain.entities.js';
import { AuditEventEntity } from './entities/audit-event.entity.js';

interface Ctx {
  app: INestApplication;
  db: TestDatabase;
  audit: AuditService;
  ds: DataSource;
  /** The server's superuser on the same database: a full database compromise. */
  admin: DataSource;
  close(): Promise<void>;
}

async function boot(env: Record<string, string> = {}): Promise<Ctx> {
  const db = await createTestDatabase('audit');
  // The owner URL too: it writes the retention period, which only the owner may set.
  const app = await createLibApp(db, AuditModule, { DATABASE_MIGRATION_URL: db.migrationUrl, ...env });
  await app.init();
  const admin = new DataSource({ type: 'postgres', url: db.adminUrl, extra: { max: 2 } });
  await admin.initialize();
  return {
    app,
    db,
    audit: app.get(AuditService),
    ds: app.get(DataSource),
    admin,
    close: async () => {
      await app.close();
      await admin.destroy();
      await db.drop();
    },
  };
}

const login = (i: number) => ({
  type: 'login.succeeded' as const,
  outcome: 'success' as const,
  actor: 'developer:00000000-0000-4000-8000-000000000001',
  developerId: '00000000-0000-4000-8000-000000000001',
  organisationId: `org-${i % 7}`,
  profileId: 'p1',
  ip: '203.0.113.7',
  userAgent: 'jest',
  requestId: `r-${i}`,
  details: { n: i },
});

async function recordMany(audit: AuditService, n: number, batch = 200): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += batch) {
    const done = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, k) => audit.record(login(i + k))),
    );
    ids.push(...done.map((d) => d.id));
  }
  return ids;
}

/** Runs `sql` as the superuser with the append-only triggers switched off: a full database compromise. */
async function tamper(ds: DataSource, ...sql: string[]): Promise<void> {
  await ds.transaction(async (m) => {
    await m.query('ALTER TABLE audit_events DISABLE TRIGGER USER');
    for (const s of sql) await m.query(s);
    await m.query('ALTER TABLE audit_events ENABLE TRIGGER USER');
  });
}

describe('audit log: append-only, sealing and verification (real Postgres)', () => {
  let ctx: Ctx;

  beforeAll(async () => {
    ctx = await boot();
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('should match the migration exactly (TypeORM schema diff is empty)', async () => {
    const ds = new DataSource({
      type: 'postgres',
      url: ctx.db.migrationUrl,
      entities: [AuditEventEntity, AuditChainHeadEntity, AuditChainAnchorEntity],
    });
    await ds.initialize();
    try {
      const sql = await ds.driver.createSchemaBuilder().log();
      expect(sql.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await ds.destroy();
    }
  });

  // A login's earlier writes commit asynchronously (ASYNC_COMMIT); this synchronous commit makes them durable.
  it('should commit an event synchronously, also on the pool path the login uses', async () => {
    const single = await singleConnection(ctx.db.url);
    try {
      const events = new AuditEventsRepository(single);
      const event = { type: 'login.succeeded', outcome: 'success', ip: '192.0.2.1' } as const;
      await expect(commitModeOf(single, () => events.insertPrepared(event))).resolves.toEqual({
        atCommit: 'on',
        after: 'on',
      });
    } finally {
      await single.destroy();
    }
  });

  // DURABLE_COMMIT: the runtime role may turn synchronous commits off for itself (so may a DBA, for
  // the database or the server); an event and a checkpoint still wait for their WAL flush.
  it('should commit events and checkpoints durably when the broker role has synchronous_commit off', async () => {
    await ctx.ds.query('ALTER ROLE CURRENT_USER SET synchronous_commit = off');
    const single = await singleConnection(ctx.db.url);
    try {
      const [setting] = await single.query<{ synchronous_commit: string }[]>('SHOW synchronous_commit');
      expect(setting?.synchronous_commit).toBe('off');
      const events = new AuditEventsRepository(single);
      const event = { type: 'login.succeeded', outcome: 'success', ip: '192.0.2.1' } as const;
      await expect(commitModeOf(single, () => events.insertPrepared(event))).resolves.toEqual({
        atCommit: 'on',
        after: 'off',
      });
      // Inside a caller's transaction (an admin change with its event): the whole commit is durable.
      await expect(commitModeOf(single, () => events.insertIn(single.manager, event))).resolves.toEqual({
        atCommit: 'on',
        after: 'off',
      });
      // A checkpoint may not end after the chain head (AuditCheckpointsNotPastTheHead).
      await ctx.audit.record(event);
      await ctx.audit.sealNow();
      const checkpoints = new AuditCheckpointsRepository(single);
      let inserted: unknown;
      const values = ['1', '1', 'a'.repeat(64), '0'.repeat(64), '1', 'kid-1', 'x.y.z'];
      await expect(
        commitModeOf(single, async () => {
          inserted = await checkpoints.insertCheckpoint(single.manager, values);
        }),
      ).resolves.toEqual({ atCommit: 'on', after: 'off' });
      // The row goes into the checkpoint file as it is: nothing but the checkpoint's own fields.
      expect(Object.keys(inserted as object).sort()).toEqual(
        [
          'created_at',
          'event_count',
          'first_seq',
          'jws',
          'kid',
          'last_hash',
          'last_seq',
          'prev_checkpoint_hash',
        ].sort(),
      );
      // A setting that already waits for the local flush is kept (a synchronous standby stays waited for).
      await single.query('SET synchronous_commit = local');
      await expect(commitModeOf(single, () => events.insertPrepared(event))).resolves.toEqual({
        atCommit: 'local',
        after: 'local',
      });
    } finally {
      await single.destroy();
      await ctx.ds.query('ALTER ROLE CURRENT_USER RESET synchronous_commit');
    }
  });

  it('should record one event and return its id, with secrets masked and emails removed', async () => {
    const { id } = await ctx.audit.record({
      type: 'login.failed',
      outcome: 'failure',
      reason: 'email_unverified for bob@example.com',
      ip: '::ffff:198.51.100.4',
      details: { access_token: 'eyJsecret', note: 'contact bob@example.com', nested: { client_secret: 'x1' } },
    });
    const [row] = await ctx.ds.query(
      'SELECT id::text, reason, (SELECT host(p.ip) FROM audit_event_personal p WHERE p.event_id = e.id) AS ip, details, hash FROM audit_events e WHERE id = $1',
      [id],
    );
    expect(row.id).toBe(id);
    expect(row.reason).toBe('email_unverified for [email]');
    expect(row.ip).toBe('198.51.100.4');
    expect(row.details).toEqual({
      access_token: '********',
      note: 'contact [email]',
      nested: { client_secret: '********' },
    });
    expect(row.hash).toBeNull();
  });

  it('should refuse UPDATE, DELETE and TRUNCATE, and pre-sealed inserts, even to the owner (the trigger wall)', async () => {
    const { id } = await ctx.audit.record(login(1));
    // The runtime role holds no such privilege at all (audit-roles.int-spec); the owner meets the triggers.
    const owner = new DataSource({ type: 'postgres', url: ctx.db.migrationUrl, extra: { max: 1 } });
    await owner.initialize();
    try {
      await expect(owner.query(`UPDATE audit_events SET reason = 'x' WHERE id = $1`, [id])).rejects.toThrow(
        /append-only: UPDATE refused/,
      );
      await expect(owner.query(`DELETE FROM audit_events WHERE id = $1`, [id])).rejects.toThrow(
        /append-only: DELETE refused/,
      );
      await expect(owner.query(`TRUNCATE audit_events CASCADE`)).rejects.toThrow(/append-only: TRUNCATE refused/);
      await expect(
        owner.query(`INSERT INTO audit_events (type, outcome, hash) VALUES ('logout', 'success', repeat('a', 64))`),
      ).rejects.toThrow(/inserted unsealed/);
      // Each seal column alone is refused (the insert trigger's WHEN condition, issue 19).
      for (const [column, value] of [
        ['seq', '1'],
        ['prev_id', '1'],
        ['prev_hash', "repeat('a', 64)"],
        ['sealed_at', 'now()'],
      ]) {
        await expect(
          owner.query(`INSERT INTO audit_events (type, outcome, ${column}) VALUES ('logout', 'success', ${value})`),
        ).rejects.toThrow(/inserted unsealed/);
      }
      // An unsealed insert does not call the PL/pgSQL guard at all: Postgres checks the WHEN condition.
      const [insertTrigger] = await owner.query<{ def: string }[]>(
        `SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t
          WHERE t.tgrelid = 'audit_events'::regclass AND NOT t.tgisinternal AND (t.tgtype & 4) <> 0`,
      );
      expect(insertTrigger?.def).toMatch(/BEFORE INSERT ON public\.audit_events FOR EACH ROW WHEN \(/);
      // Nor does the owner's sealing update (audit_seal): the PL/pgSQL guard runs for any other update.
      const [updateTrigger] = await owner.query<{ def: string }[]>(
        `SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t
          WHERE t.tgrelid = 'audit_events'::regclass AND NOT t.tgisinternal AND (t.tgtype & 16) <> 0`,
      );
      expect(updateTrigger?.def).toMatch(
        /BEFORE UPDATE ON public\.audit_events FOR EACH ROW WHEN \(\(NOT \(\(CURRENT_USER = 'broker_owner'::name\) AND/,
      );
      // Sealing-style update that also changes an event field.
      await expect(
        owner.query(
          `UPDATE audit_events SET seq = 999999, prev_hash = repeat('0', 64), hash = repeat('1', 64), sealed_at = now(), reason = 'x' WHERE id = $1`,
          [id],
        ),
      ).rejects.toThrow(/UPDATE refused/);
      await ctx.audit.sealNow();
      // Once sealed, even the chain columns are frozen.
      await expect(owner.query(`UPDATE audit_events SET hash = repeat('2', 64) WHERE id = $1`, [id])).rejects.toThrow(
        /UPDATE refused/,
      );
      await expect(owner.query(`UPDATE audit_chain_head SET last_seq = 0`)).rejects.toThrow(/only moves forward/);
      const [row] = await ctx.ds.query('SELECT reason FROM audit_events WHERE id = $1', [id]);
      expect(row.reason).toBeNull();
    } finally {
      await owner.destroy();
    }
  });

  it('should keep the chain intact after 2,000 concurrent record() calls and a sealNow()', async () => {
    const before = await ctx.audit.verify();
    expect(before.status).toBe('intact');
    const ids = await recordMany(ctx.audit, 2000);
    expect(new Set(ids).size).toBe(2000);
    expect(await ctx.audit.sealingLagSeconds()).toBeGreaterThan(0);
    const sealed = await ctx.audit.sealNow();
    expect(sealed).toBeGreaterThanOrEqual(2000);
    expect(await ctx.audit.sealingLagSeconds()).toBe(0);
    const result = await ctx.audit.verify();
    const [{ total, maxid }] = await ctx.ds.query(
      'SELECT count(*)::int AS total, max(id)::text AS maxid FROM audit_events',
    );
    expect(result).toMatchObject({ status: 'intact', count: total, lastId: maxid, unsealed: 0 });
    const [{ hash }] = await ctx.ds.query('SELECT hash FROM audit_events WHERE id = $1', [maxid]);
    expect(result.status === 'intact' && result.lastHash).toBe(hash);
  });

  it('should seal a lower id that commits after a higher one was sealed, without breaking the chain', async () => {
    const qr = ctx.ds.createQueryRunner();
    await qr.connect();
    await qr.startTransaction();
    try {
      const late = await ctx.audit.record(
        { type: 'profile.updated', outcome: 'success', target: 'profile:late' },
        qr.manager,
      );
      const early = await ctx.audit.record({ type: 'profile.updated', outcome: 'success', target: 'profile:early' });
      expect(BigInt(late.id)).toBeLessThan(BigInt(early.id));
      await ctx.audit.sealNow();
      await qr.commitTransaction();
      const [before] = await ctx.ds.query('SELECT hash FROM audit_events WHERE id = $1', [late.id]);
      expect(before.hash).toBeNull();
      await ctx.audit.sealNow();
      const rows = await ctx.ds.query('SELECT id::text, seq::text FROM audit_events WHERE id = ANY($1::bigint[])', [
        [late.id, early.id],
      ]);
      const seqOf = Object.fromEntries(rows.map((r: { id: string; seq: string }) => [r.id, BigInt(r.seq)]));
      expect(seqOf[late.id]).toBeGreaterThan(seqOf[early.id]);
      expect((await ctx.audit.verify()).status).toBe('intact');
    } finally {
      await qr.release();
    }
  });

  it('should not let a rolled-back event stop sealing', async () => {
    await ctx.ds
      .transaction(async (m) => {
        await ctx.audit.record({ type: 'profile.deleted', outcome: 'success' }, m);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    const after = await ctx.audit.record({ type: 'profile.created', outcome: 'success' });
    await ctx.audit.sealNow();
    const [row] = await ctx.ds.query('SELECT hash FROM audit_events WHERE id = $1', [after.id]);
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    expect((await ctx.audit.verify()).status).toBe('intact');
  });

  it('should verify an id range and refuse bad range parameters', async () => {
    const [{ lo, hi }] = await ctx.ds.query(
      'SELECT (min(id) + 10)::text AS lo, (min(id) + 109)::text AS hi FROM audit_events WHERE seq IS NOT NULL',
    );
    const result = await ctx.audit.verify({ fromId: lo, toId: hi });
    expect(result).toMatchObject({ status: 'intact', count: 100, firstId: lo, lastId: hi });
    await expect(ctx.audit.verify({ fromId: 'abc' })).rejects.toMatchObject({
      code: 'validation_failed',
      message: expect.stringMatching(/^from_id:/),
    });
    await expect(ctx.audit.verify({ fromId: '10', toId: '5' })).rejects.toMatchObject({
      message: expect.stringMatching(/^to_id:/),
    });
  });

  it('should run one full verify at a time across instances: another is refused with verify_running, not queued', async () => {
    // Another instance in the middle of a full verify (scheduled or on demand) holds this lock.
    const other = ctx.admin.createQueryRunner();
    await other.connect();
    await other.query(`SELECT pg_advisory_lock(hashtext('broker.audit.full_verify'))`);
    try {
      await expect(ctx.audit.verify()).rejects.toMatchObject({
        code: 'verify_running',
        message: expect.stringMatching(/already running/),
      });
      await expect(ctx.audit.verify({ mode: 'full' }, { recordAs: 'admin:a' })).rejects.toMatchObject({
        code: 'verify_running',
      });
      expect(await ctx.app.get(AuditChainService).scheduledFullVerify()).toBeNull();
      // Routine and range verifies are bounded and take no part in it.
      expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({ status: 'intact', mode: 'routine' });
    } finally {
      await other.query(`SELECT pg_advisory_unlock(hashtext('broker.audit.full_verify'))`);
      await other.release();
    }
    // Free again, and given back after each verify (also on this instance's own connections).
    expect(await ctx.audit.verify()).toMatchObject({ status: 'intact', mode: 'full' });
    const parallel = await Promise.allSettled(Array.from({ length: 4 }, () => ctx.audit.verify()));
    const done = parallel.filter((r) => r.status === 'fulfilled');
    expect(done.length).toBeGreaterThanOrEqual(1);
    for (const r of parallel) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'verify_running' });
    }
    expect(await ctx.audit.verify()).toMatchObject({ status: 'intact', mode: 'full' });
    // Nothing holds the lock now: every lock-holding connection went back without it.
    const [{ held }] = await ctx.admin.query<{ held: number }[]>(
      `SELECT count(*)::int AS held FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext('broker.audit.full_verify')::oid`,
    );
    expect(held).toBe(0);
  });

  // Runs last in this database: it breaks the chain on purpose.
  it('should name the changed and the removed event after tampering with the trigger disabled', async () => {
    const ids = await ctx.ds.query<{ id: string }[]>(
      'SELECT id::text FROM audit_events WHERE seq IS NOT NULL ORDER BY seq LIMIT 3 OFFSET 500',
    );
    const [changed, , removed] = ids.map((r) => r.id) as [string, string, string];
    await tamper(
      ctx.admin,
      `UPDATE audit_events SET reason = 'nothing to see' WHERE id = ${changed}`,
      `DELETE FROM audit_events WHERE id = ${removed}`,
    );
    const result = await ctx.audit.verify();
    expect(result.status).toBe('broken');
    if (result.status !== 'broken') return;
    expect(result.firstBadId).toBe(changed);
    expect(result.problem).toBe('hash_mismatch');
    expect(result.problems.map((p) => [p.id, p.kind])).toEqual([
      [changed, 'hash_mismatch'],
      [removed, 'missing_events'],
    ]);
    // A range that avoids both is still intact.
    const tail = await ctx.audit.verify({ fromId: String(BigInt(removed) + 1n) });
    expect(tail.status).toBe('intact');
  });
});

describe('audit chain: more tampering (real Postgres)', () => {
  let ctx: Ctx;

  beforeEach(async () => {
    ctx = await boot();
    await recordMany(ctx.audit, 50, 50);
    await ctx.audit.sealNow();
  });

  afterEach(async () => {
    await ctx?.close();
  });

  it('should report a truncated tail as removed, naming the last sealed event', async () => {
    const [{ maxid }] = await ctx.ds.query('SELECT max(id)::text AS maxid FROM audit_events');
    await tamper(ctx.admin, `DELETE FROM audit_events WHERE id = ${maxid}`);
    const result = await ctx.audit.verify();
    expect(result).toMatchObject({ status: 'broken', firstBadId: maxid, problem: 'missing_events' });
  });

  it('should report reordered events as inserted out of order', async () => {
    const rows = await ctx.ds.query<{ id: string; seq: string }[]>(
      'SELECT e.id::text AS id, e.seq::text AS seq FROM audit_events e ORDER BY e.seq LIMIT 2 OFFSET 10',
    );
    const [a, b] = rows as [{ id: string; seq: string }, { id: string; seq: string }];
    await tamper(
      ctx.admin,
      `UPDATE audit_events SET seq = -1 WHERE id = ${a.id}`,
      `UPDATE audit_events SET seq = ${a.seq} WHERE id = ${b.id}`,
      `UPDATE audit_events SET seq = ${b.seq} WHERE id = ${a.id}`,
    );
    const result = await ctx.audit.verify();
    expect(result).toMatchObject({ status: 'broken', firstBadId: b.id, problem: 'hash_mismatch' });
  });

  it('should report a forged event whose hash was recomputed as a broken link', async () => {
    const [row] = await ctx.ds.query('SELECT id::text FROM audit_events ORDER BY seq LIMIT 1 OFFSET 20');
    // Rewrite the event and its own hash; the next event still links to the old hash.
    await tamper(ctx.admin, `UPDATE audit_events SET outcome = 'failure', hash = repeat('a', 64) WHERE id = ${row.id}`);
    const result = await ctx.audit.verify();
    expect(result.status).toBe('broken');
    if (result.status !== 'broken') return;
    expect(result.firstBadId).toBe(row.id);
    expect(result.problems.map((p) => p.kind)).toEqual(['hash_mismatch', 'hash_mismatch']);
  });
});

describe('audit sealing in the background (real Postgres)', () => {
  let ctx: Ctx;

  beforeAll(async () => {
    ctx = await boot({ BROKER_AUDIT_SEAL_INTERVAL_MS: '100' });
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('should seal new events within a few seconds without sealNow()', async () => {
    const { id } = await ctx.audit.record(login(1));
    let hash: string | null = null;
    for (let i = 0; i < 50 && !hash; i++) {
      await new Promise((r) => setTimeout(r, 100));
      [{ hash }] = await ctx.ds.query('SELECT hash FROM audit_events WHERE id = $1', [id]);
    }
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await ctx.audit.verify()).toMatchObject({ status: 'intact', count: 1, lastId: id });
  });

  it('should check for the scheduled full verify a few minutes after start, then hourly, not once a period', async () => {
    const config = ctx.app.get<string, AuditConfig>(auditConfig.KEY);
    const restarted = new AuditChainService(
      ctx.ds,
      { ...config, fullVerifyHours: 24, retentionDays: 0, sealIntervalMs: 24 * 60 * 60 * 1000 },
      ctx.app.get(AuditCheckpointsService),
      ctx.app.get(AuditChainRepository),
      ctx.app.get(AuditEventsRepository),
      ctx.app.get(AuditVerifyTrust),
      ctx.app.get(AuditStreamRepository),
    );
    const checks = jest.spyOn(restarted, 'scheduledFullVerify').mockResolvedValue(null);
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'Date', 'performance'] });
    try {
      await restarted.onApplicationBootstrap();
      // A broker restarted more often than hourly still checks, a few minutes after each start.
      jest.advanceTimersByTime(FULL_VERIFY_FIRST_CHECK_MS - 1);
      expect(checks).not.toHaveBeenCalled();
      jest.advanceTimersByTime(1);
      expect(checks).toHaveBeenCalledTimes(1);
      jest.advanceTimersByTime(FULL_VERIFY_CHECK_MS - FULL_VERIFY_FIRST_CHECK_MS);
      expect(checks).toHaveBeenCalledTimes(2);
      // A broker restarted every few hours still checks: hourly, whatever the period.
      jest.advanceTimersByTime(3 * FULL_VERIFY_CHECK_MS);
      expect(checks).toHaveBeenCalledTimes(5);
      await restarted.beforeApplicationShutdown();
      jest.advanceTimersByTime(24 * 60 * 60 * 1000);
      expect(checks).toHaveBeenCalledTimes(5);
    } finally {
      jest.useRealTimers();
      checks.mockRestore();
    }
  });

  it('should let only one of two sealers seal at a time (advisory lock), leaving the chain intact', async () => {
    await recordMany(ctx.audit, 300, 100);
    const chain = ctx.app.get(AuditChainService);
    const other = new AuditChainService(
      ctx.ds,
      ctx.app.get<string, AuditConfig>(auditConfig.KEY),
      ctx.app.get(AuditCheckpointsService),
      ctx.app.get(AuditChainRepository),
      ctx.app.get(AuditEventsRepository),
      ctx.app.get(AuditVerifyTrust),
      ctx.app.get(AuditStreamRepository),
    );
    const [a, b] = await Promise.all([chain.sealNow(), other.sealNow()]);
    // No event sealed twice: the two counts add up to at most the sealed rows (the 300 logins, and
    // the audit.checkpoints_started that the first round's checkpoint records, which the other
    // sealer may seal).
    const [{ n }] = await ctx.ds.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM audit_events WHERE seq IS NOT NULL',
    );
    expect(n).toBeGreaterThanOrEqual(300);
    expect(a + b).toBeLessThanOrEqual(n);
    expect(await ctx.audit.verify()).toMatchObject({ status: 'intact', unsealed: 0 });
  });
});

describe('audit retention (real Postgres)', () => {
  let ctx: Ctx;

  beforeAll(async () => {
    ctx = await boot({ BROKER_AUDIT_RETENTION_DAYS: '30' });
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('should remove whole ranges older than the retention, record it, and still verify as intact', async () => {
    // Old events, seeded set-based by the superuser (the runtime role cannot set occurred_at).
    await ctx.admin.query(
      `INSERT INTO audit_events (occurred_at, type, outcome, reason)
       SELECT now() - interval '60 days' + g * interval '1 second', 'login.failed', 'failure', 'old'
         FROM generate_series(1, 1500) g`,
    );
    await recordMany(ctx.audit, 20, 20);
    // An old-looking event sealed after recent ones is not a whole old range: it stays.
    await ctx.audit.sealNow();
    await ctx.admin.query(
      `INSERT INTO audit_events (occurred_at, type, outcome, reason) VALUES (now() - interval '90 days', 'logout', 'success', 'straggler')`,
    );
    await ctx.audit.sealNow();
    const result = await ctx.audit.applyRetention();
    expect(result.removed).toBe(1500);
    const [{ old }] = await ctx.ds.query(`SELECT count(*)::int AS old FROM audit_events WHERE reason = 'old'`);
    expect(old).toBe(0);
    const [{ straggler }] = await ctx.ds.query(
      `SELECT count(*)::int AS straggler FROM audit_events WHERE reason = 'straggler'`,
    );
    expect(straggler).toBe(1);
    const events = await ctx.ds.query(`SELECT details FROM audit_events WHERE type = 'audit.retention_applied'`);
    expect(events).toHaveLength(1);
    expect(events[0].details).toMatchObject({ removed: 1500, retention_days: 30 });
    const [anchor] = await ctx.ds.query('SELECT first_seq::int AS first_seq FROM audit_chain_anchors');
    expect(anchor.first_seq).toBe(1501);
    await ctx.audit.sealNow();
    const verified = await ctx.audit.verify();
    // 20 + the straggler + audit.retention_applied + the signed proof (audit.retention_signed).
    expect(verified).toMatchObject({ status: 'intact', count: 23 });
    // Nothing more to remove; verify stays intact; the anchor table is append-only.
    expect((await ctx.audit.applyRetention()).removed).toBe(0);
    await expect(ctx.ds.query('DELETE FROM audit_chain_anchors')).rejects.toThrow(/permission denied/);
  });

  it('should detect removal of the first retained event after retention', async () => {
    const [first] = await ctx.ds.query('SELECT id::text FROM audit_events WHERE seq IS NOT NULL ORDER BY seq LIMIT 1');
    await tamper(ctx.admin, `DELETE FROM audit_events WHERE id = ${first.id}`);
    expect(await ctx.audit.verify()).toMatchObject({
      status: 'broken',
      firstBadId: first.id,
      problem: 'missing_events',
    });
  });
});
