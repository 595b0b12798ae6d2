import type { INestApplication } from '@nestjs/common';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { SiemReceiver, lineId, waitFor, type ReceivedBatch } from '@test/support/siem-receiver.js';
import pg from 'pg';
import { AuditModule } from '../audit.module.js';
import { AuditService } from '../audit.service.js';

const SECRET = 'stream-pending-secret-0417-abcdef';

const ids = (b: ReceivedBatch) => b.lines.map(lineId);
const key = (b: ReceivedBatch) => String(b.headers['idempotency-key']);

/**
 * `pending_last_seq` (the end of the batch that failed, so that its retry is the same batch with
 * the same Idempotency-Key) is a column the runtime role can UPDATE like the rest of the cursor
 * row. Whoever holds those credentials and sets it higher, lower, NULL or to a seq that does not
 * exist must not make the stream skip an event, nor post an event the SIEM already got under
 * another Idempotency-Key (a duplicate it cannot drop by key), without an alarm: an
 * `audit.stream_cursor_tampered` event (reason `pending_batch_tampered`) and an error log.
 */
describe('audit stream: pending_last_seq tampered with by the runtime role (real Postgres, real HTTP)', () => {
  let db: TestDatabase;
  let receiver: SiemReceiver;
  let apps: INestApplication[] = [];

  beforeEach(async () => {
    db = await createTestDatabase('stream_pending');
    receiver = new SiemReceiver(SECRET);
    await receiver.start();
    apps = [];
  });

  afterEach(async () => {
    for (const app of apps) await app.close();
    await receiver.stop();
    await db.drop();
  });

  async function instance(env: Record<string, string> = {}): Promise<INestApplication> {
    const app = await createLibApp(db, AuditModule, {
      BROKER_AUDIT_STREAM_URL: receiver.url,
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: 'ndjson',
      BROKER_AUDIT_STREAM_BATCH_SIZE: '50',
      BROKER_AUDIT_STREAM_INTERVAL_MS: '50',
      BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '200',
      ...env,
    });
    await app.init();
    apps.push(app);
    return app;
  }

  async function record(audit: AuditService, from: number, n: number): Promise<string[]> {
    const recorded: string[] = [];
    for (let i = from; i < from + n; i++) {
      recorded.push(
        (
          await audit.record({
            type: 'login.succeeded',
            outcome: 'success',
            actor: `developer:${i}`,
            requestId: `r${i}`,
          })
        ).id,
      );
    }
    await audit.sealNow();
    return recorded;
  }

  /** As the broker's runtime role (DATABASE_URL): what a holder of its credentials can do. */
  async function asRuntime<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as T[];
    } finally {
      await c.end();
    }
  }

  async function alarms(): Promise<{ reason: string; details: Record<string, unknown> }[]> {
    return asRuntime(
      `SELECT reason, details FROM audit_events WHERE type = 'audit.stream_cursor_tampered' ORDER BY id`,
    );
  }

  /** Events the receiver got in batches under different Idempotency-Keys: duplicates it cannot drop by key. */
  function duplicatesAcrossKeys(): string[] {
    const keysOf = new Map<string, Set<string>>();
    for (const b of receiver.batches) {
      for (const id of ids(b)) keysOf.set(id, (keysOf.get(id) ?? new Set()).add(key(b)));
    }
    return [...keysOf].filter(([, keys]) => keys.size > 1).map(([id]) => id);
  }

  /**
   * A batch of 3 fails (the receiver got it, its answer was a 500), 4 more events are sealed, the
   * sender stops; the runtime role rewrites pending_last_seq; the next sender delivers.
   */
  async function failThenTamper(pending: (seqs: string[]) => string | null, clearMac = false) {
    receiver.mode = 'error500';
    const a = await instance();
    const audit = a.get(AuditService);
    const first = await record(audit, 1, 3);
    await waitFor('the first post failing', () => receiver.answered.error500 >= 1);
    const more = await record(audit, 4, 4);
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const seqs = (await asRuntime<{ seq: string }>(`SELECT seq::text AS seq FROM audit_events ORDER BY seq`)).map(
      (r) => r.seq,
    );
    const [cursor] = await asRuntime<{ pending_last_seq: string | null }>(
      `SELECT pending_last_seq::text AS pending_last_seq FROM audit_stream_cursor`,
    );
    expect(cursor.pending_last_seq).toBe(seqs[2]);
    await asRuntime(
      `UPDATE audit_stream_cursor SET pending_last_seq = $1::bigint${clearMac ? ', pending_mac = NULL' : ''}`,
      [pending(seqs)],
    );
    if (clearMac) {
      // The owner's trigger keeps the MAC once written: clearing it does not pass for "never signed".
      const [row] = await asRuntime<{ pending_mac: string | null }>(`SELECT pending_mac FROM audit_stream_cursor`);
      expect(row.pending_mac).not.toBeNull();
    }
    receiver.mode = 'ok';
    await instance();
    const all = [...first, ...more];
    await waitFor('every event delivered', () => all.every((id) => receiver.firstSeenIds().includes(id)));
    return { all, first, seqs };
  }

  // Every row has all three values: jest takes a test function with more parameters than the row for a done-callback test.
  const cases: [string, (seqs: string[]) => string | null, boolean][] = [
    ['higher, inside the log', (s) => s[4], false],
    ['higher, past the newest event', () => '999999999', false],
    ['lower, still after the cursor', (s) => s[0], false],
    ['lower, below the cursor', () => '0', false],
    ['negative', () => '-5', false],
    ['NULL', () => null, false],
    ['NULL, with pending_mac cleared too', () => null, true],
    ['lower, with pending_mac cleared too', (s) => s[0], true],
  ];

  it.each(cases)('should skip nothing and raise the alarm when it is set %s', async (_name, pending, clearMac) => {
    const { all, seqs } = await failThenTamper(pending, clearMac);
    // Nothing skipped, in chain order.
    expect(receiver.firstSeenIds().filter((id) => all.includes(id))).toEqual(all);
    const found = await alarms();
    expect(found.map((f) => f.reason)).toEqual(['pending_batch_tampered']);
    // The alarm names the bound as the runtime role left it (duplicates under another key may follow it).
    expect(found[0].details).toEqual({ found_seq: '0', found_pending_last_seq: pending(seqs) });
  });

  it('should raise no alarm and re-send the same batch under the same key when nobody touched it', async () => {
    const { first } = await failThenTamper((s) => s[2]);
    expect(await alarms()).toEqual([]);
    expect(duplicatesAcrossKeys()).toEqual([]);
    const accepted = receiver.batches.find((b) => b.accepted)!;
    expect(ids(accepted)).toEqual(first);
  });

  it('should raise the alarm when pending_last_seq is set while nothing failed, and still skip nothing', async () => {
    const a = await instance();
    const audit = a.get(AuditService);
    const first = await record(audit, 1, 3);
    await waitFor('the first batch delivered', () => first.every((id) => receiver.firstSeenIds().includes(id)));
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const more = await record((await instance()).get(AuditService), 4, 3);
    // (The new sender may already have delivered some; set it anyway, then add more events.)
    await asRuntime(`UPDATE audit_stream_cursor SET pending_last_seq = (SELECT max(seq) FROM audit_events) + 1`);
    const last = await record(apps[0].get(AuditService), 7, 2);
    const all = [...first, ...more, ...last];
    await waitFor('every event delivered', () => all.every((id) => receiver.firstSeenIds().includes(id)));
    expect(receiver.firstSeenIds().filter((id) => all.includes(id))).toEqual(all);
    expect((await alarms()).map((f) => f.reason)).toEqual(['pending_batch_tampered']);
  });

  /** The cursor as committed (the receiver sees a batch before the sender's transaction commits). */
  async function cursorRow() {
    const [row] = await asRuntime<{ last_seq: string; pending_last_seq: string | null; pending_mac: string | null }>(
      `SELECT last_seq::text AS last_seq, pending_last_seq::text AS pending_last_seq, pending_mac FROM audit_stream_cursor`,
    );
    return row;
  }

  async function maxSeq(): Promise<string> {
    const [row] = await asRuntime<{ seq: string }>(`SELECT max(seq)::text AS seq FROM audit_events`);
    return row.seq;
  }

  it('should raise the alarm and re-post the same batch under the same key when the none-MAC of a delivery is copied back over a bound (same sender)', async () => {
    const a = await instance();
    const audit = a.get(AuditService);
    const first = await record(audit, 1, 3);
    const delivered = await maxSeq();
    await waitFor('the first batch delivered and committed', async () => (await cursorRow()).last_seq === delivered);
    // Signed at the delivery: (seq 3, no bound).
    const noneMac = (await cursorRow()).pending_mac;
    expect(noneMac).not.toBeNull();
    receiver.mode = 'error500';
    const second = await record(audit, 4, 3);
    await waitFor('a failed post signed a bound', async () => (await cursorRow()).pending_last_seq !== null);
    const failedKeys = new Set(receiver.batches.filter((b) => !b.accepted).map(key));
    expect(failedKeys.size).toBe(1);
    // The runtime role clears the bound with the MAC it saved: valid at this position, the sender's own.
    await asRuntime(`UPDATE audit_stream_cursor SET pending_last_seq = NULL, pending_mac = $1`, [noneMac]);
    const more = await record(audit, 7, 4);
    receiver.mode = 'ok';
    const all = [...first, ...second, ...more];
    await waitFor('every event delivered', () => all.every((id) => receiver.firstSeenIds().includes(id)));
    expect(receiver.firstSeenIds().filter((id) => all.includes(id))).toEqual(all);
    const found = await alarms();
    expect(found.map((f) => f.reason)).toEqual(['pending_batch_tampered']);
    expect(found[0].details).toEqual({ found_seq: delivered, found_pending_last_seq: null });
    // The retry was the failed batch itself, under its key: nothing re-posted under another one.
    expect(duplicatesAcrossKeys()).toEqual([]);
    expect(ids(receiver.batches.find((b) => b.accepted && failedKeys.has(key(b)))!)).toEqual(second);
  });

  it('should raise no alarm once BROKER_AUDIT_STREAM_SECRET_PREVIOUS is removed after a rotation with nothing sent meanwhile', async () => {
    const a = await instance();
    const first = await record(a.get(AuditService), 1, 3);
    const delivered = await maxSeq();
    await waitFor('the first batch delivered and committed', async () => (await cursorRow()).last_seq === delivered);
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    const NEW_SECRET = 'stream-pending-rotated-secret-5521';
    receiver.secret = NEW_SECRET;
    const before = await cursorRow();
    const [{ mac: macBefore }] = await asRuntime<{ mac: string }>(`SELECT mac FROM audit_stream_cursor`);
    const rotated = await instance({
      BROKER_AUDIT_STREAM_SECRET: NEW_SECRET,
      BROKER_AUDIT_STREAM_SECRET_PREVIOUS: SECRET,
    });
    // Taken over and re-signed; nothing new to send, so no delivery re-signs anything.
    await waitFor(
      'the cursor re-signed with the new secret',
      async () => (await asRuntime<{ mac: string }>(`SELECT mac FROM audit_stream_cursor`))[0].mac !== macBefore,
    );
    await new Promise((r) => setTimeout(r, 300));
    await rotated.close();
    apps.splice(apps.indexOf(rotated), 1);
    expect((await cursorRow()).last_seq).toBe(before.last_seq);
    // The previous secret removed, as the README says to.
    const b = await instance({ BROKER_AUDIT_STREAM_SECRET: NEW_SECRET });
    const later = await record(b.get(AuditService), 4, 2);
    await waitFor('the next events delivered', () => later.every((id) => receiver.firstSeenIds().includes(id)));
    expect(await alarms()).toEqual([]);
    const [{ tampered_at }] = await asRuntime<{ tampered_at: Date | null }>(
      `SELECT tampered_at FROM audit_stream_cursor`,
    );
    expect(tampered_at).toBeNull();
    expect(receiver.firstSeenIds().filter((id) => first.includes(id))).toEqual(first);
    expect(duplicatesAcrossKeys()).toEqual([]);
  });
});
