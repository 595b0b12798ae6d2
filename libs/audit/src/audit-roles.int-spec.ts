import { jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { AuditModule } from './audit.module.js';
import { AuditService } from './audit.service.js';

/** Issue 14: what the broker's runtime role (DATABASE_URL) may and may not do to the audit log. */
describe('audit log: the runtime role can only extend the chain (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let audit: AuditService;
  let ds: DataSource;
  let sealedId: string;

  const state = async () => {
    const [row] = await ds.query<{ n: number; head: string; anchors: number }[]>(
      `SELECT (SELECT count(*)::int FROM audit_events) AS n,
              (SELECT last_hash FROM audit_chain_head) AS head,
              (SELECT count(*)::int FROM audit_chain_anchors) AS anchors`,
    );
    return row;
  };

  beforeAll(async () => {
    db = await createTestDatabase('roles');
    app = await createLibApp(db, AuditModule, {
      BROKER_AUDIT_RETENTION_DAYS: '30',
      DATABASE_MIGRATION_URL: db.migrationUrl,
    });
    await app.init();
    audit = app.get(AuditService);
    ds = app.get(DataSource);
    for (let i = 0; i < 5; i++) await audit.record({ type: 'login.succeeded', outcome: 'success', requestId: `r${i}` });
    await audit.sealNow();
    [{ id: sealedId }] = await ds.query<{ id: string }[]>(
      `SELECT id::text AS id FROM audit_events ORDER BY seq LIMIT 1`,
    );
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('should connect as a role other than the owner and report strong protection', async () => {
    const [{ me }] = await ds.query<{ me: string }[]>(`SELECT current_user AS me`);
    expect(me).toBe('broker_app');
    expect(await audit.protection()).toEqual({ protection: 'strong' });
    expect(await audit.verify()).toMatchObject({ status: 'intact', protection: 'strong' });
  });

  it.each([
    ['UPDATE of a sealed row', () => `UPDATE audit_events SET reason = 'x' WHERE id = ${sealedId}`],
    ['DELETE of a sealed row', () => `DELETE FROM audit_events WHERE id = ${sealedId}`],
    ['TRUNCATE', () => `TRUNCATE audit_events`],
    ['ALTER TABLE … DISABLE TRIGGER', () => `ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`],
    ['DROP TRIGGER', () => `DROP TRIGGER audit_events_append_only ON audit_events`],
    [
      'INSERT … OVERRIDING SYSTEM VALUE',
      () =>
        `INSERT INTO audit_events (id, type, outcome) OVERRIDING SYSTEM VALUE VALUES (${sealedId}, 'logout', 'success')`,
    ],
    [
      'an explicit occurred_at',
      () =>
        `INSERT INTO audit_events (occurred_at, type, outcome) VALUES (now() - interval '1 year', 'logout', 'success')`,
    ],
    [
      'an INSERT into the anchors',
      () =>
        `INSERT INTO audit_chain_anchors (first_seq, prev_hash, removed_count, last_removed_id, cutoff) VALUES (3, repeat('0', 64), 2, 2, now())`,
    ],
    [
      'a SET followed by DELETE',
      () => `SET broker.audit_retention = 'on'; DELETE FROM audit_events WHERE id = ${sealedId}`,
    ],
    ['moving the head', () => `UPDATE audit_chain_head SET last_seq = 1`],
    ['setting the retention period', () => `UPDATE audit_settings SET retention_days = 1`],
    [
      'retention with a cutoff in the future',
      () => `SELECT * FROM audit_apply_retention(now() + interval '1 day', 100000000)`,
    ],
    [
      'retention with a cutoff inside the retention period',
      () => `SELECT * FROM audit_apply_retention(now() - interval '29 days', 1000)`,
    ],
    [
      'the seal function asked to rewrite a sealed row',
      () =>
        `SELECT audit_seal((SELECT last_seq + 1 FROM audit_chain_head), (SELECT last_hash FROM audit_chain_head), ARRAY[${sealedId}]::bigint[], ARRAY[repeat('a', 64)])`,
    ],
    [
      'the seal function asked to skip a seq',
      () =>
        `INSERT INTO audit_events (type, outcome) VALUES ('logout', 'success');
         SELECT audit_seal((SELECT last_seq + 2 FROM audit_chain_head), (SELECT last_hash FROM audit_chain_head),
                           ARRAY[(SELECT max(id) FROM audit_events)]::bigint[], ARRAY[repeat('a', 64)])`,
    ],
    [
      'the seal function given a prev_hash other than the head',
      () =>
        `INSERT INTO audit_events (type, outcome) VALUES ('logout', 'success');
         SELECT audit_seal((SELECT last_seq + 1 FROM audit_chain_head), repeat('b', 64),
                           ARRAY[(SELECT max(id) FROM audit_events)]::bigint[], ARRAY[repeat('a', 64)])`,
    ],
  ])('should refuse %s and leave the log unchanged and verifying', async (_name, sql) => {
    const before = await state();
    await expect(
      ds.transaction(async (m) => {
        for (const statement of sql().split(/;\s*/)) if (statement.trim()) await m.query(statement);
      }),
    ).rejects.toThrow(/permission denied|must be owner|refuses|next link|prev_hash|already sealed|append-only/);
    expect(await state()).toEqual(before);
    expect(await audit.verify()).toMatchObject({ status: 'intact' });
  });

  it('should grant EXECUTE on the owner functions to the runtime role alone, and pin every SECURITY DEFINER search_path', async () => {
    const fns = await ds.query<{ name: string; acl: string; config: string | null }[]>(
      `SELECT p.proname AS name, p.proacl::text AS acl, array_to_string(p.proconfig, ',') AS config
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.prosecdef`,
    );
    expect(fns.map((f) => f.name).sort()).toEqual(['audit_apply_retention', 'audit_erase_personal', 'audit_seal']);
    for (const f of fns) {
      // No "=X/owner" entry: PUBLIC may not execute it.
      expect(f.acl).not.toMatch(/[{,]=X/);
      expect(f.acl).toMatch(/broker_app=X/);
      expect(f.config).toMatch(/search_path=/);
    }
  });

  it('should let the runtime role run retention only through the owner function, which writes the event and the anchor', async () => {
    // The superuser plays a year passing: backdates two unsealed events before they are sealed.
    const admin = new DataSource({ type: 'postgres', url: db.adminUrl });
    await admin.initialize();
    try {
      await admin.query(`SET session_replication_role = replica`);
      await admin.query(
        `INSERT INTO audit_events (occurred_at, type, outcome) VALUES (now() - interval '400 days', 'logout', 'success')`,
      );
    } finally {
      await admin.destroy();
    }
    await audit.sealNow();
    // The five sealed events above are recent, so nothing older than the period forms a prefix.
    expect((await audit.applyRetention()).removed).toBe(0);
    await audit.sealNow();
    expect(await audit.verify()).toMatchObject({ status: 'intact' });
  });

  it('should report weak protection when the broker connects as the owner (one role)', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const weak = await createLibApp(db, AuditModule, { DATABASE_URL: db.migrationUrl });
    await weak.init();
    // One warning at start-up.
    expect(warn.mock.calls.filter(([m]) => String(m).startsWith('audit log protection is weak'))).toHaveLength(1);
    warn.mockRestore();
    try {
      const p = await weak.get(AuditService).protection();
      expect(p).toMatchObject({ protection: 'weak', reason: expect.stringMatching(/DATABASE_MIGRATION_URL/) });
      expect(await weak.get(AuditService).verify()).toMatchObject({ protection: 'weak', protectionReason: p.reason });
    } finally {
      await weak.close();
    }
  });
});
