import { jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { SiemReceiver, waitFor } from '@test/support/siem-receiver.js';
import { AuditModule } from '../audit.module.js';
import { AuditService } from '../audit.service.js';
import { AuditStreamService } from './audit-stream.service.js';

const SECRET = 'stream-retention-secret-7731-abc';

interface Ctx {
  db: TestDatabase;
  receiver: SiemReceiver;
  app: INestApplication;
  audit: AuditService;
  stream: AuditStreamService;
  ds: DataSource;
}

/** A broker with retention (30 days) and a stream to a receiver of its own, for the enclosing describe. */
function useStream(): Ctx {
  const t = {} as Ctx;
  beforeAll(async () => {
    t.db = await createTestDatabase('stream_retention');
    t.receiver = new SiemReceiver(SECRET);
    await t.receiver.start();
    // The owner URL too: it writes the retention period, which only the owner may set.
    t.app = await createLibApp(t.db, AuditModule, {
      DATABASE_MIGRATION_URL: t.db.migrationUrl,
      BROKER_AUDIT_RETENTION_DAYS: '30',
      BROKER_AUDIT_STREAM_URL: t.receiver.url,
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: 'ndjson',
      BROKER_AUDIT_STREAM_INTERVAL_MS: '50',
      BROKER_AUDIT_STREAM_TIMEOUT_MS: '400',
      BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '300',
    });
    await t.app.init();
    t.audit = t.app.get(AuditService);
    t.stream = t.app.get(AuditStreamService);
    t.ds = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t.app?.close();
    await t.receiver?.stop();
    await t.db?.drop();
  });
  return t;
}

/** Events that happened `daysAgo` (only the superuser can set occurred_at), then sealed. */
async function seedOld(t: Ctx, n: number, daysAgo: number, reason: string): Promise<string[]> {
  const rows = await asSuperuser(t.db, (c) =>
    c.query<{ id: string }>(
      `INSERT INTO audit_events (occurred_at, type, outcome, reason)
       SELECT now() - make_interval(days => $1) + g * interval '1 second', 'login.failed', 'failure', $2
         FROM generate_series(1, $3::int) g RETURNING id::text AS id`,
      [daysAgo, reason, n],
    ),
  );
  await t.audit.sealNow();
  return rows.rows.map((r) => r.id);
}

async function headSeq(t: Ctx): Promise<string> {
  const [{ seq }] = await t.ds.query<{ seq: string }[]>(`SELECT last_seq::text AS seq FROM audit_chain_head`);
  return seq;
}

async function count(t: Ctx, where: string, value: string): Promise<number> {
  const [{ n }] = await t.ds.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM audit_events WHERE ${where} = $1`, [
    value,
  ]);
  return n;
}

/**
 * Retention must not remove events the SIEM stream has not delivered yet: a SIEM outage longer
 * than BROKER_AUDIT_RETENTION_DAYS would otherwise lose them silently ("nothing lost").
 */
describe('audit retention with the SIEM stream behind (real Postgres, real HTTP)', () => {
  const t = useStream();

  it('should keep old events the stream has not delivered, remove the delivered old ones, and remove the rest once delivered', async () => {
    await seedOld(t, 40, 60, 'delivered-old');
    const delivered = await headSeq(t);
    await waitFor('the stream delivering the first old events', async () => {
      return (await t.stream.status()).last_delivered_seq === delivered;
    });
    // The SIEM goes down; more events older than the retention period are sealed meanwhile.
    await t.receiver.goDown();
    const undelivered = await seedOld(t, 25, 45, 'undelivered-old');
    await waitFor('the stream failing', async () => ((await t.stream.status()).consecutive_failures ?? 0) >= 1);

    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let result: Awaited<ReturnType<AuditService['applyRetention']>>;
    try {
      result = await t.audit.applyRetention();
      expect(warn.mock.calls.map(([m]) => String(m))).toContainEqual(
        expect.stringMatching(
          /^audit retention held back: the SIEM stream has not delivered the events sealed after seq 40 yet/,
        ),
      );
    } finally {
      warn.mockRestore();
    }
    expect(result.removed).toBe(40);
    expect(await count(t, 'reason', 'delivered-old')).toBe(0);
    expect(await count(t, 'reason', 'undelivered-old')).toBe(25);
    await t.audit.sealNow();
    expect(await t.audit.verify()).toMatchObject({ status: 'intact' });

    // The SIEM comes back: it receives every kept event, then retention removes them.
    await t.receiver.comeBack('ok');
    await t.audit.sealNow();
    const head = await headSeq(t);
    await waitFor('the stream catching up', async () => (await t.stream.status()).last_delivered_seq === head);
    const received = new Set(t.receiver.firstSeenIds());
    expect(undelivered.filter((id) => !received.has(id))).toEqual([]);
    expect((await t.audit.applyRetention()).removed).toBe(25);
    expect(await count(t, 'reason', 'undelivered-old')).toBe(0);
    await t.audit.sealNow();
    expect(await t.audit.verify()).toMatchObject({ status: 'intact' });
  });
});

/**
 * The hold is the broker's: the owner's audit_apply_retention() checks only the retention period,
 * and the runtime role may call it. Events removed past the hold cannot be sent; the stream says so.
 */
describe('events removed before the SIEM received them (real Postgres, real HTTP)', () => {
  const t = useStream();

  it('should record audit.stream_gap once and go on when the runtime role removes undelivered events through the owner function', async () => {
    await seedOld(t, 5, 60, 'delivered-first');
    const before = await headSeq(t);
    await waitFor('the stream caught up', async () => (await t.stream.status()).last_delivered_seq === before);
    await t.receiver.goDown();
    await seedOld(t, 12, 50, 'bypassed');
    await waitFor('the stream failing', async () => ((await t.stream.status()).consecutive_failures ?? 0) >= 1);
    // What anyone with DATABASE_URL can do, bypassing the broker's hold.
    const [{ removed }] = await t.ds.query<{ removed: string }[]>(
      `SELECT r_removed::text AS removed FROM audit_apply_retention(now() - interval '31 days', 1000000)`,
    );
    expect(removed).toBe('17');
    expect(await count(t, 'reason', 'bypassed')).toBe(0);
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      await t.receiver.comeBack('ok');
      await t.audit.sealNow();
      await waitFor('the gap recorded', async () => (await count(t, 'type', 'audit.stream_gap')) > 0);
      expect(error.mock.calls.map(([m]) => String(m))).toContainEqual(
        expect.stringMatching(
          /^audit stream: the events after seq 5 up to 17 were removed before the SIEM received them/,
        ),
      );
    } finally {
      error.mockRestore();
    }
    const [gap] = await t.ds.query<{ reason: string; details: Record<string, string> }[]>(
      `SELECT reason, details FROM audit_events WHERE type = 'audit.stream_gap'`,
    );
    expect(gap).toEqual({ reason: 'removed_undelivered', details: { after_seq: '5', next_seq: '18', missing: '12' } });
    // Recorded once, and the stream goes on: the gap event itself reaches the SIEM.
    await t.audit.sealNow();
    const head = await headSeq(t);
    await waitFor('the stream catching up', async () => (await t.stream.status()).last_delivered_seq === head);
    expect(await count(t, 'type', 'audit.stream_gap')).toBe(1);
    expect(t.receiver.firstSeenIds().length).toBeGreaterThan(5);

    // A resume after tampering restarts from seq 0, before events that were delivered and then
    // removed: duplicates follow, but that is no gap.
    await t.ds.query(`UPDATE audit_stream_cursor SET mac = 'forged' WHERE id = 1`);
    await waitFor('the tampering recorded', async () => (await count(t, 'type', 'audit.stream_cursor_tampered')) > 0);
    await t.audit.sealNow();
    const end = await headSeq(t);
    await waitFor('the stream caught up again', async () => (await t.stream.status()).last_delivered_seq === end);
    expect(await count(t, 'type', 'audit.stream_gap')).toBe(1);
  });
});
