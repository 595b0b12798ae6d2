import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { ocsfViolations } from '@test/support/ocsf-classes.js';
import { SiemReceiver, waitFor } from '@test/support/siem-receiver.js';
import { AuditModule } from '../audit.module.js';
import { AuditService } from '../audit.service.js';
import { AuditStreamService } from './audit-stream.service.js';

const SECRET = 'stream-int-secret-5521-abcdef';

/**
 * Two broker instances (two AuditModule apps on one database) stream to one receiver that is down,
 * then answers 500, then answers too slowly, then recovers: every event arrives at least once, in
 * chain order, as valid signed OCSF, and only one instance posts at a time.
 */
describe('audit stream to a SIEM (real Postgres, real HTTP)', () => {
  let db: TestDatabase;
  let receiver: SiemReceiver;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('audit_stream');
    receiver = new SiemReceiver(SECRET);
    await receiver.start();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await receiver.stop();
    await db.drop();
  });

  async function instance(format: 'ocsf' | 'ndjson'): Promise<INestApplication> {
    const app = await createLibApp(db, AuditModule, {
      BROKER_AUDIT_SEAL_INTERVAL_MS: '100',
      BROKER_AUDIT_STREAM_URL: receiver.url,
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: format,
      BROKER_AUDIT_STREAM_BATCH_SIZE: '7',
      BROKER_AUDIT_STREAM_INTERVAL_MS: '50',
      BROKER_AUDIT_STREAM_TIMEOUT_MS: '400',
      BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '300',
    });
    await app.init();
    apps.push(app);
    return app;
  }

  const event = (i: number) => ({
    type: i % 3 === 0 ? ('login.failed' as const) : ('login.succeeded' as const),
    outcome: i % 3 === 0 ? ('failure' as const) : ('success' as const),
    reason: i % 3 === 0 ? 'state_invalid' : null,
    actor: 'developer:00000000-0000-4000-8000-000000000001',
    developerId: '00000000-0000-4000-8000-000000000001',
    organisationId: `org-${i % 4}`,
    profileId: 'p1',
    ip: '203.0.113.9',
    requestId: `r-${i}`,
  });

  it('should deliver every event at least once and in order through an outage, 500s and timeouts', async () => {
    await receiver.goDown();
    const a = await instance('ocsf');
    const b = await instance('ocsf');
    const audit = a.get(AuditService);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push((await audit.record(event(i))).id);
    // Down: the senders fail (connection refused) and the cursor row says so.
    const stream = a.get(AuditStreamService);
    await waitFor('failures recorded while the receiver is down', async () => {
      const s = await stream.status();
      return (s.consecutive_failures ?? 0) >= 2;
    });
    expect(await stream.status()).toMatchObject({
      state: 'retrying',
      last_error: expect.stringMatching(/request failed/),
    });
    expect((await stream.status()).lag_seconds).toBeGreaterThan(0);

    await receiver.comeBack('error500');
    await waitFor('three 500 answers', () => receiver.answered.error500 >= 3);
    expect((await stream.status()).last_error).toBe('receiver answered HTTP 500');
    receiver.mode = 'slow';
    await waitFor('two slow answers', () => receiver.answered.slow >= 2);
    for (let i = 30; i < 45; i++) ids.push((await b.get(AuditService).record(event(i))).id);
    receiver.mode = 'ok';
    for (let i = 45; i < 60; i++) ids.push((await audit.record(event(i))).id);

    await waitFor('every event delivered', () => ids.every((id) => receiver.firstSeenIds().includes(id)));

    // In chain order: each id's first arrival follows the seal order, and the cursor is at the end.
    const ds = a.get(DataSource);
    const sealed = await ds.query<{ id: string }[]>(`SELECT id::text AS id FROM audit_events ORDER BY seq`);
    expect(receiver.firstSeenIds()).toEqual(sealed.map((r) => r.id));
    await waitFor('lag back to 0', async () => (await stream.status()).lag_seconds === 0);
    expect(await b.get(AuditStreamService).status()).toMatchObject({
      state: 'delivering',
      last_delivered_event_id: sealed[sealed.length - 1]?.id,
      consecutive_failures: 0,
      last_error: null,
    });

    // Every batch signed, every line valid OCSF, each batch in ascending chain order.
    for (const batch of receiver.batches) {
      expect(batch.signatureValid).toBe(true);
      expect(batch.headers['content-type']).toBe('application/x-ndjson');
      const seqs = batch.lines.map((l) => (l.metadata as { sequence: number }).sequence);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      for (const line of batch.lines) expect(ocsfViolations(line)).toEqual([]);
    }
    // One sender at a time across the two instances: accepted posts never overlap.
    const accepted = receiver.batches.filter((x) => x.accepted).sort((x, y) => x.startedAt - y.startedAt);
    for (let i = 1; i < accepted.length; i++) {
      expect(accepted[i].startedAt).toBeGreaterThanOrEqual(accepted[i - 1].endedAt);
    }
    // Both instances were running; the slow answers were re-sent (at least once, never lost).
    expect(receiver.answered.slow).toBeGreaterThanOrEqual(2);
  });

  it('should send the broker’s own records in ndjson format', async () => {
    for (const app of apps.splice(0)) await app.close();
    const app = await instance('ndjson');
    const { id } = await app.get(AuditService).record(event(99));
    await waitFor('the ndjson record', () => receiver.firstSeenIds().includes(id));
    const line = receiver.batches.flatMap((x) => x.lines).find((l) => l.id === id);
    expect(line).toMatchObject({ id, type: 'login.failed', reason: 'state_invalid', organisation_id: 'org-3' });
    expect(receiver.batches[receiver.batches.length - 1]?.headers['x-broker-stream-format']).toBe('ndjson');
  });
});
