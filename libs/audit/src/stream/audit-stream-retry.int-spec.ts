import type { INestApplication } from '@nestjs/common';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { SiemReceiver, lineId, waitFor, type ReceivedBatch } from '@test/support/siem-receiver.js';
import { AuditModule } from '../audit.module.js';
import { AuditService } from '../audit.service.js';

const SECRET = 'stream-retry-secret-0417-abcdef';

const ids = (b: ReceivedBatch) => b.lines.map(lineId);
const key = (b: ReceivedBatch) => b.headers['idempotency-key'];

/**
 * The README promises an Idempotency-Key that is the same when a batch is re-sent: a retry must
 * post exactly the batch that failed, even when more events were sealed meanwhile (a batch that
 * was not full would otherwise grow, and its key with it), in this process and in the next sender.
 */
describe('audit stream re-sends exactly the failed batch (real Postgres, real HTTP)', () => {
  let db: TestDatabase;
  let receiver: SiemReceiver;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('stream_retry');
    receiver = new SiemReceiver(SECRET);
    await receiver.start();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await receiver.stop();
    await db.drop();
  });

  async function instance(): Promise<INestApplication> {
    const app = await createLibApp(db, AuditModule, {
      BROKER_AUDIT_STREAM_URL: receiver.url,
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: 'ndjson',
      BROKER_AUDIT_STREAM_BATCH_SIZE: '50',
      BROKER_AUDIT_STREAM_INTERVAL_MS: '50',
      BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '200',
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

  it('should post the same events with the same Idempotency-Key on every retry, also from the next sender', async () => {
    receiver.mode = 'error500';
    const a = await instance();
    const audit = a.get(AuditService);
    const first = await record(audit, 1, 3);
    await waitFor('the first post failing', () => receiver.answered.error500 >= 1);
    // More events sealed while the batch waits for its retry (it had room for them).
    const more = await record(audit, 4, 4);
    const failedSoFar = receiver.answered.error500;
    await waitFor('retries after the new events were sealed', () => receiver.answered.error500 >= failedSoFar + 2);
    // The sender goes away mid-outage; the next one (a restart, another replica) retries.
    await a.close();
    apps.splice(apps.indexOf(a), 1);
    await instance();
    const failures = receiver.answered.error500;
    await waitFor('the next sender retrying', () => receiver.answered.error500 >= failures + 1);
    receiver.mode = 'ok';
    await waitFor('every event delivered', () => new Set(receiver.firstSeenIds()).size === 7);

    const [failed] = receiver.batches;
    expect(ids(failed)).toEqual(first);
    expect(key(failed)).toBe(`audit-${String(failed.lines[0].seq)}-${String(failed.lines[2].seq)}`);
    const accepted = receiver.batches.findIndex((b) => b.accepted);
    // Every post up to and including the accepted one is that same batch.
    for (const b of receiver.batches.slice(0, accepted + 1)) {
      expect({ key: key(b), ids: ids(b) }).toEqual({ key: key(failed), ids: first });
    }
    // The events sealed meanwhile follow in a batch of their own.
    const next = receiver.batches[accepted + 1];
    expect(ids(next)).toEqual(more);
    expect(key(next)).toBe(`audit-${String(next.lines[0].seq)}-${String(next.lines[3].seq)}`);
  });
});
