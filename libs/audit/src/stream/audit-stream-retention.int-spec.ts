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

/**
 * Retention must not remove events the SIEM stream has not delivered yet: a SIEM outage longer
 * than BROKER_AUDIT_RETENTION_DAYS would otherwise lose them silently ("nothing lost").
 */
describe('audit retention with the SIEM stream behind (real Postgres, real HTTP)', () => {
  let db: TestDatabase;
  let receiver: SiemReceiver;
  let app: INestApplication;
  let audit: AuditService;
  let stream: AuditStreamService;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('stream_retention');
    receiver = new SiemReceiver(SECRET);
    await receiver.start();
    // The owner URL too: it writes the retention period, which only the owner may set.
    app = await createLibApp(db, AuditModule, {
      DATABASE_MIGRATION_URL: db.migrationUrl,
      BROKER_AUDIT_RETENTION_DAYS: '30',
      BROKER_AUDIT_STREAM_URL: receiver.url,
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: 'ndjson',
      BROKER_AUDIT_STREAM_INTERVAL_MS: '50',
      BROKER_AUDIT_STREAM_TIMEOUT_MS: '400',
      BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '300',
    });
    await app.init();
    audit = app.get(AuditService);
    stream = app.get(AuditStreamService);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await receiver.stop();
    await db.drop();
  });

  /** Events that happened `daysAgo` (only the superuser can set occurred_at), then sealed. */
  async function seedOld(n: number, daysAgo: number, reason: string): Promise<string[]> {
    const rows = await asSuperuser(db, (c) =>
      c.query<{ id: string }>(
        `INSERT INTO audit_events (occurred_at, type, outcome, reason)
         SELECT now() - make_interval(days => $1) + g * interval '1 second', 'login.failed', 'failure', $2
           FROM generate_series(1, $3::int) g RETURNING id::text AS id`,
        [daysAgo, reason, n],
      ),
    );
    await audit.sealNow();
    return rows.rows.map((r) => r.id);
  }

  async function headSeq(): Promise<string> {
    const [{ seq }] = await ds.query<{ seq: string }[]>(`SELECT last_seq::text AS seq FROM audit_chain_head`);
    return seq;
  }

  async function count(reason: string): Promise<number> {
    const [{ n }] = await ds.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM audit_events WHERE reason = $1`, [
      reason,
    ]);
    return n;
  }

  it('should keep old events the stream has not delivered, remove the delivered old ones, and remove the rest once delivered', async () => {
    await seedOld(40, 60, 'delivered-old');
    const delivered = await headSeq();
    await waitFor('the stream delivering the first old events', async () => {
      return (await stream.status()).last_delivered_seq === delivered;
    });
    // The SIEM goes down; more events older than the retention period are sealed meanwhile.
    await receiver.goDown();
    const undelivered = await seedOld(25, 45, 'undelivered-old');
    await waitFor('the stream failing', async () => ((await stream.status()).consecutive_failures ?? 0) >= 1);

    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let result: Awaited<ReturnType<AuditService['applyRetention']>>;
    try {
      result = await audit.applyRetention();
      expect(warn.mock.calls.map(([m]) => String(m))).toContainEqual(
        expect.stringMatching(
          /^audit retention held back: the SIEM stream has not delivered the events sealed after seq 40 yet/,
        ),
      );
    } finally {
      warn.mockRestore();
    }
    expect(result.removed).toBe(40);
    expect(await count('delivered-old')).toBe(0);
    expect(await count('undelivered-old')).toBe(25);
    await audit.sealNow();
    expect(await audit.verify()).toMatchObject({ status: 'intact' });

    // The SIEM comes back: it receives every kept event, then retention removes them.
    await receiver.comeBack('ok');
    await audit.sealNow();
    const head = await headSeq();
    await waitFor('the stream catching up', async () => (await stream.status()).last_delivered_seq === head);
    const received = new Set(receiver.firstSeenIds());
    expect(undelivered.filter((id) => !received.has(id))).toEqual([]);
    expect((await audit.applyRetention()).removed).toBe(25);
    expect(await count('undelivered-old')).toBe(0);
    await audit.sealNow();
    expect(await audit.verify()).toMatchObject({ status: 'intact' });
  });
});
