import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, MIGRATIONS } from '@app/database';
import type { QueryRunner } from 'typeorm';
import pg from 'pg';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { ocsfViolations } from '@test/support/ocsf-classes.js';
import { lineId, SiemReceiver, waitFor } from '@test/support/siem-receiver.js';

/**
 * The SIEM stream's cursor against the broker's own runtime database role (which may UPDATE it):
 * moving it forward past undelivered events no longer keeps them from the SIEM. The sender finds a
 * cursor it did not sign, logs an error, records `audit.stream_cursor_tampered`, says `tampered` in
 * /health/ready and re-sends from a position it can vouch for. Its own cursor survives a restart
 * (nothing re-sent) and the previous version's unsigned cursor is taken over once at the upgrade.
 */

const ADMIN_SECRET = 'cursor-e2e-admin-secret-3318';
const STREAM_SECRET = 'cursor-e2e-stream-secret-9902';

interface StreamDetails {
  state: string;
  last_delivered_event_id: string | null;
  cursor_tampered_at: string | null;
  lag_seconds: number;
}

describe('audit stream cursor moved by the runtime database role (real broker, Postgres and HTTP)', () => {
  let db: TestDatabase;
  let runtime: pg.Client;
  let receiver: SiemReceiver;
  let broker: TestBroker | null = null;
  let port: number;
  // One data folder for every restart: the same generated audit signing key, as on a real host
  // (another key would be a rotation, and the checkpoints would stop: audit-checkpoint-trust).
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cursor-broker-'));

  const start = async (env: Record<string, string> = {}): Promise<TestBroker> => {
    broker = await startTestBroker(
      testConfig({
        DATABASE_URL: db.url,
        TYK_IB_SECRET: ADMIN_SECRET,
        TYK_LOGLEVEL: 'info',
        BROKER_DATA_DIR: dataDir,
        BROKER_AUDIT_SEAL_INTERVAL_MS: '100',
        BROKER_AUDIT_STREAM_URL: receiver.url,
        BROKER_AUDIT_STREAM_SECRET: STREAM_SECRET,
        BROKER_AUDIT_STREAM_BATCH_SIZE: '8',
        BROKER_AUDIT_STREAM_INTERVAL_MS: '100',
        BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '300',
        ...env,
      }),
      port,
    );
    started.push(broker);
    return broker;
  };
  const started: TestBroker[] = [];
  /** Every line of every broker started here (a restarted app in this process may log through the first one's stream). */
  const logLines = (): string[] => started.flatMap((b) => b.logs.lines);

  const readiness = async (): Promise<StreamDetails> => {
    const body = (await (await fetch(`${broker!.url}/health/ready`)).json()) as {
      details: { audit_stream: StreamDetails };
    };
    return body.details.audit_stream;
  };

  /** Events as the broker writes them (the runtime role's INSERT); their ids. */
  const insertEvents = async (n: number, tag: string): Promise<string[]> =>
    (
      await runtime.query<{ id: string }>(
        `INSERT INTO audit_events (type, outcome, reason, actor, organisation_id, request_id)
         SELECT 'login.failed', 'failure', 'idp_error', 'anonymous', 'org-1', $1 || g
           FROM generate_series(1, $2::int) g RETURNING id::text AS id`,
        [tag, n],
      )
    ).rows.map((r) => r.id);

  /** Every event the receiver got in the batches from index `from` on, in order. */
  const idsSince = (from: number): string[] => receiver.batches.slice(from).flatMap((b) => b.lines.map(lineId));

  /** No event is waiting for the sealer. */
  const allSealed = async (): Promise<boolean> =>
    (await runtime.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE seq IS NULL`)).rows[0]?.n ===
    0;

  const stop = async (): Promise<void> => {
    await broker!.close();
    broker = null;
  };

  const received = (ids: string[]) => () => {
    const seen = new Set(receiver.firstSeenIds());
    return ids.every((id) => seen.has(id));
  };

  const tamperEvents = async () =>
    (
      await runtime.query<{ id: string; reason: string; details: Record<string, string> }>(
        `SELECT id::text AS id, reason, details FROM audit_events WHERE type = 'audit.stream_cursor_tampered' ORDER BY id`,
      )
    ).rows;

  const cursorRow = async () =>
    (
      await runtime.query<{ last_seq: string; mac: string | null; unsigned_seq: string | null }>(
        `SELECT last_seq::text AS last_seq, mac, unsigned_seq::text AS unsigned_seq FROM audit_stream_cursor`,
      )
    ).rows[0];

  beforeAll(async () => {
    db = await createTestDatabase('stream_cursor');
    receiver = new SiemReceiver(STREAM_SECRET);
    await receiver.start();
    port = await freePort();
    runtime = new pg.Client({ connectionString: db.url });
    await runtime.connect();
  });

  afterAll(async () => {
    await broker?.close();
    await runtime?.end();
    await receiver?.stop();
    await db?.drop();
  });

  it('should re-send every event a cursor moved by the runtime role skipped, and log, record and report it', async () => {
    await start();
    const before = await insertEvents(5, 'before-');
    await waitFor('the first events delivered', received(before));

    await receiver.goDown();
    const skipped = await insertEvents(20, 'skipped-');
    await waitFor('the new events sealed', allSealed);
    // Someone holding only the broker's runtime credentials moves the cursor to the head.
    const moved = await runtime.query<{ last_seq: string }>(
      `UPDATE audit_stream_cursor c SET last_seq = h.seq, last_event_id = h.id
         FROM (SELECT seq, id FROM audit_events ORDER BY seq DESC LIMIT 1) h
        WHERE c.id = 1 RETURNING c.last_seq::text AS last_seq`,
    );
    expect(moved.rowCount).toBe(1);
    const headSeq = moved.rows[0].last_seq;

    await waitFor(
      '/health/ready to say the cursor was tampered with',
      async () => (await readiness()).state === 'tampered',
    );
    expect(await readiness()).toMatchObject({
      state: 'tampered',
      cursor_tampered_at: expect.stringMatching(/^\d{4}-/),
    });
    const errors = logLines().filter((l) => l.includes('"level":50') && l.includes('cursor tampered with'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`found at seq ${headSeq}`);
    expect(logLines().join('\n')).not.toContain(STREAM_SECRET);
    const recorded = await tamperEvents();
    expect(recorded).toEqual([
      {
        id: expect.any(String),
        reason: 'cursor_signature_invalid',
        details: { found_seq: headSeq, found_event_id: skipped[skipped.length - 1], resumed_after_seq: '0' },
      },
    ]);

    // Back up: everything arrives, the skipped events and the record of the tampering included.
    await receiver.comeBack('ok');
    await waitFor('every event, skipped ones included', received([...before, ...skipped, recorded[0].id]));
    const line = receiver.batches.flatMap((b) => b.lines).find((l) => lineId(l) === recorded[0].id);
    expect(line).toMatchObject({
      severity_id: 4,
      status_detail: 'cursor_signature_invalid',
      api: { operation: 'audit.stream_cursor_tampered' },
    });
    expect(ocsfViolations(line!)).toEqual([]);
    for (const batch of receiver.batches) expect(batch.signatureValid).toBe(true);
    await waitFor('caught up again', async () => (await readiness()).lag_seconds === 0);
    expect(await readiness()).toMatchObject({
      state: 'delivering',
      cursor_tampered_at: expect.stringMatching(/^\d{4}-/),
    });
    expect(await tamperEvents()).toHaveLength(1);
  });

  it('should not let the runtime role delete the cursor row or insert its own', async () => {
    await expect(runtime.query(`DELETE FROM audit_stream_cursor`)).rejects.toThrow(/permission denied/);
    await expect(runtime.query(`INSERT INTO audit_stream_cursor (id, last_seq) VALUES (2, 0)`)).rejects.toThrow(
      /permission denied/,
    );
  });

  it('should re-send nothing after a restart with the cursor it wrote', async () => {
    await stop();
    const batchesBefore = receiver.batches.length;
    await start();
    const [fresh] = await insertEvents(1, 'after-restart-');
    await waitFor('the new event delivered', received([fresh]));
    expect(idsSince(batchesBefore)).toEqual([fresh]);
    expect(await tamperEvents()).toHaveLength(1);
    expect(logLines().filter((l) => l.includes('cursor tampered with'))).toHaveLength(1);
  });

  it('should take over the previous version’s unsigned cursor once at the upgrade, without re-sending', async () => {
    await stop();
    // The upgrade as the owner runs it: the table as the previous version left it, then this migration.
    const owner = new pg.Client({ connectionString: db.migrationUrl });
    await owner.connect();
    const runner = { query: (sql: string) => owner.query(sql) } as unknown as QueryRunner;
    const Migration = MIGRATIONS.find((m) => m.name === 'SignAuditStreamCursor1797000012000')!;
    const migration = new Migration();
    await migration.down(runner);
    await migration.up(runner);
    await owner.end();
    const upgraded = await cursorRow();
    expect(upgraded).toMatchObject({ mac: null, unsigned_seq: upgraded.last_seq });

    const batchesBefore = receiver.batches.length;
    await start();
    const [fresh] = await insertEvents(1, 'after-upgrade-');
    await waitFor('the new event delivered', received([fresh]));
    expect(idsSince(batchesBefore)).toEqual([fresh]);
    expect(await cursorRow()).toMatchObject({ mac: expect.any(String), unsigned_seq: null });
    expect(logLines().join('\n')).toContain('signed the cursor the previous version left');
    expect(await tamperEvents()).toHaveLength(1);

    // Only once: an unsigned cursor afterwards is someone else's, however it got there.
    await runtime.query(
      `UPDATE audit_stream_cursor SET mac = NULL, unsigned_seq = last_seq, unsigned_event_id = last_event_id`,
    );
    await waitFor('the second tampering recorded', async () => (await tamperEvents()).length === 2);
    expect((await tamperEvents())[1]).toMatchObject({ reason: 'cursor_unsigned', details: { resumed_after_seq: '0' } });
  });

  it('should take over the cursor signed with the previous secret after a rotation, without re-sending or a tamper event', async () => {
    // The previous test's re-send first runs to the end: every event sealed and delivered.
    await waitFor(
      'the stream caught up',
      async () =>
        (await allSealed()) &&
        (
          await runtime.query<{ caught_up: boolean }>(
            `SELECT c.last_seq = (SELECT max(seq) FROM audit_events) AS caught_up FROM audit_stream_cursor c`,
          )
        ).rows[0]?.caught_up === true,
    );
    await stop();
    const NEW_SECRET = 'cursor-e2e-rotated-secret-7741';
    receiver.secret = NEW_SECRET;
    const tampersBefore = (await tamperEvents()).length;
    const macBefore = (await cursorRow()).mac;
    const batchesBefore = receiver.batches.length;
    // Delivered before the rotation (the previous test's last events may still be on their way).
    const seenBefore = new Set(receiver.firstSeenIds());
    const resent = (ids: string[]) => ids.filter((id) => seenBefore.has(id));
    await start({ BROKER_AUDIT_STREAM_SECRET: NEW_SECRET, BROKER_AUDIT_STREAM_SECRET_PREVIOUS: STREAM_SECRET });
    const [fresh] = await insertEvents(1, 'after-rotation-');
    await waitFor('the new event delivered', received([fresh]));
    // /health/ready while the rotated broker streams: no tampering to report.
    expect((await readiness()).state).toBe('delivering');
    const sentIds = idsSince(batchesBefore);
    expect(sentIds).toContain(fresh);
    expect(resent(sentIds)).toEqual([]);
    expect(receiver.batches.slice(batchesBefore).every((b) => b.signatureValid)).toBe(true);
    expect(logLines().join('\n')).toContain('re-signed the cursor at seq');
    expect((await cursorRow()).mac).not.toBe(macBefore);
    expect(await tamperEvents()).toHaveLength(tampersBefore);

    // The cursor is now the new secret's: the previous one can go, and nothing is re-sent.
    await stop();
    const afterRotation = receiver.batches.length;
    for (const id of receiver.firstSeenIds()) seenBefore.add(id);
    await start({ BROKER_AUDIT_STREAM_SECRET: NEW_SECRET });
    const [later] = await insertEvents(1, 'previous-removed-');
    await waitFor('the next event delivered', received([later]));
    const laterIds = idsSince(afterRotation);
    expect(laterIds).toContain(later);
    expect(resent(laterIds)).toEqual([]);
    expect(await tamperEvents()).toHaveLength(tampersBefore);
    const logs = logLines().join('\n');
    expect(logs).not.toContain(NEW_SECRET);
    expect(logs).not.toContain(STREAM_SECRET);
  });
});
