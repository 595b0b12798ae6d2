import { jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { SiemReceiver } from '@test/support/siem-receiver.js';
import { AuditModule } from '../audit.module.js';
import { AuditService } from '../audit.service.js';
import { AuditStreamRepository } from './audit-stream.repository.js';
import { AuditStreamService } from './audit-stream.service.js';

const SECRET = 'stream-rollback-secret-7731-abcdef';

/**
 * Finding 7 of the session-13 audit review: the cursor's MAC covers only the position, so the
 * runtime role could copy an older signed row back: the SIEM got duplicates, retention was held
 * back, and nothing was recorded. The sender now treats it as tampering.
 */
describe('audit stream cursor rolled back to an older signed row (real Postgres, real HTTP)', () => {
  let db: TestDatabase;
  let receiver: SiemReceiver;
  let app: INestApplication;
  let audit: AuditService;
  let stream: AuditStreamService;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('stream_rollback');
    receiver = new SiemReceiver(SECRET);
    await receiver.start();
    app = await createLibApp(db, AuditModule, {
      BROKER_AUDIT_STREAM_URL: receiver.url,
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: 'ndjson',
      // The timer stays out of the way: the test runs the sender itself.
      BROKER_AUDIT_STREAM_INTERVAL_MS: '60000',
      BROKER_AUDIT_STREAM_BATCH_SIZE: '100',
    });
    await app.init();
    audit = app.get(AuditService);
    stream = app.get(AuditStreamService);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await receiver?.stop();
    await db?.drop();
  });

  const record = async (n: number, from: number) => {
    for (let i = from; i < from + n; i++) {
      await audit.record({ type: 'login.succeeded', outcome: 'success', requestId: `rb-${i}` });
    }
    await audit.sealNow();
  };
  const delivered = () => receiver.batches.flatMap((b) => b.lines).map((l) => String(l.id));
  const cursorRow = async () =>
    (
      await ds.query(
        `SELECT last_seq::text AS last_seq, last_event_id::text AS last_event_id, mac FROM audit_stream_cursor`,
      )
    )[0];

  /** Runs the sender until the cursor reaches the head (the timer's first run may hold the lease). */
  const deliverAll = async () => {
    const [{ head }] = await ds.query(`SELECT last_seq::text AS head FROM audit_chain_head`);
    for (let i = 0; i < 100 && (await cursorRow()).last_seq !== head; i++) {
      await stream.runOnce();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await cursorRow()).last_seq).toBe(head);
  };

  it('should record a tamper event and re-send nothing when an older signed cursor is copied back', async () => {
    await record(5, 1);
    await deliverAll();
    const old = await cursorRow();
    expect(old.mac).not.toBeNull();
    await record(5, 6);
    await deliverAll();
    const now = await cursorRow();
    expect(BigInt(now.last_seq)).toBeGreaterThan(BigInt(old.last_seq));
    const before = delivered();
    expect(new Set(before).size).toBe(before.length);

    // The runtime role (the broker's own database credentials) copies the older signed row back.
    await ds.query(`UPDATE audit_stream_cursor SET last_seq = $1, last_event_id = $2, mac = $3 WHERE id = 1`, [
      old.last_seq,
      old.last_event_id,
      old.mac,
    ]);
    await stream.runOnce();

    const tampered = await ds.query(
      `SELECT reason, details FROM audit_events WHERE type = 'audit.stream_cursor_tampered'`,
    );
    expect(tampered).toHaveLength(1);
    expect(tampered[0]).toMatchObject({
      reason: 'cursor_rolled_back',
      details: { found_seq: old.last_seq, resumed_after_seq: now.last_seq },
    });
    // Resumed where it was: the events after the copied position are not sent again.
    const after = delivered();
    expect(new Set(after).size).toBe(after.length);
    expect(BigInt((await cursorRow()).last_seq)).toBeGreaterThanOrEqual(BigInt(now.last_seq));
    expect((await stream.status()).cursor_tampered_at).not.toBeNull();
  });
  it('should not take a delivery whose transaction failed to commit for the highest position (no false rollback)', async () => {
    await record(3, 100);
    const repository = app.get(AuditStreamRepository);
    const withLease = repository.withLease.bind(repository);
    // The batch is sent and the cursor moved, then the commit fails (a lost connection, say).
    jest.spyOn(repository, 'withLease').mockImplementationOnce(async (work) => {
      await withLease(async (m, cursor) => {
        await work(m, cursor);
        throw new Error('the commit failed');
      });
      return null;
    });
    const before = (await cursorRow()).last_seq;
    await stream.runOnce();
    expect((await cursorRow()).last_seq).toBe(before);
    await deliverAll();
    const tampered = await ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE type = 'audit.stream_cursor_tampered'`,
    );
    // Only the one of the test above: the cursor the failed commit left is not taken for a rollback.
    expect(tampered[0].n).toBe(1);
  });
});
