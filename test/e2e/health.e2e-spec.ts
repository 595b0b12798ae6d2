import { startEmbeddedPostgres, type EmbeddedDatabase } from '@app/database';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import pg from 'pg';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { waitFor } from '@test/support/siem-receiver.js';

describe('health (e2e, own Postgres server so it can be stopped)', () => {
  let pgServer: EmbeddedDatabase;
  let broker: TestBroker;

  beforeAll(async () => {
    pgServer = await startEmbeddedPostgres({ dir: path.join(mkdtempSync(path.join(tmpdir(), 'health-pg-')), 'pg') });
    broker = await startTestBroker(
      testConfig({
        DATABASE_URL: pgServer.url,
        DATABASE_MIGRATION_URL: pgServer.migrationUrl,
        TYK_IB_SECRET: 'health-secret-1234',
      }),
    );
  });

  afterAll(async () => {
    await broker?.close();
    await pgServer?.stop();
  });

  it('should answer GET /health with 200 and an empty body, as TIB does', async () => {
    const res = await fetch(`${broker.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('should keep idle connections open longer than a load balancer does (65 s, not Node’s 5 s)', async () => {
    const headers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
      const agent = new http.Agent({ keepAlive: true });
      http
        .get(`${broker.url}/health`, { agent }, (res) => {
          res.resume();
          res.on('end', () => {
            agent.destroy();
            resolve(res.headers);
          });
        })
        .on('error', reject);
    });
    expect(headers.connection).toBe('keep-alive');
    expect(headers['keep-alive']).toBe('timeout=65');
  });

  it('should show the audit and SIEM details of /health/ready only with BROKER_METRICS_TOKEN when it is set', async () => {
    const token = 'health-metrics-token-5678-abcdef';
    const guarded = await startTestBroker(
      testConfig({
        DATABASE_URL: pgServer.url,
        DATABASE_MIGRATION_URL: pgServer.migrationUrl,
        TYK_IB_SECRET: 'health-secret-1234',
        BROKER_METRICS_TOKEN: token,
      }),
    );
    try {
      const ready = async (headers: Record<string, string> = {}) => {
        const res = await fetch(`${guarded.url}/health/ready`, { headers });
        return { status: res.status, body: (await res.json()) as { status: string; details: Record<string, unknown> } };
      };
      const anonymous = await ready();
      expect(anonymous.status).toBe(200);
      expect(anonymous.body.status).toBe('ok');
      expect(Object.keys(anonymous.body.details)).toEqual(['database']);
      for (const wrong of [`Bearer ${token}x`, token, 'Bearer ']) {
        expect(Object.keys((await ready({ Authorization: wrong })).body.details)).toEqual(['database']);
      }
      const operator = await ready({ Authorization: `Bearer ${token}` });
      expect(operator.status).toBe(200);
      expect(Object.keys(operator.body.details).sort()).toEqual(['audit', 'audit_sealer', 'audit_stream', 'database']);
    } finally {
      await guarded.close();
    }
  });

  it('should report the audit protection as strong with the two roles of the embedded default, weak with one', async () => {
    const res = await fetch(`${broker.url}/health/ready`);
    const body = (await res.json()) as { details: { audit: Record<string, unknown> } };
    expect(body.details.audit).toEqual({ status: 'up', protection: 'strong' });
    // One role for migrations and runtime (as before issue 14): it starts and says why it is weak.
    const weak = await startTestBroker(
      testConfig({ DATABASE_URL: pgServer.migrationUrl, TYK_IB_SECRET: 'health-secret-1234' }),
    );
    try {
      const w = (await (await fetch(`${weak.url}/health/ready`)).json()) as {
        details: { audit: Record<string, unknown> };
      };
      expect(w.details.audit).toMatchObject({
        status: 'up',
        protection: 'weak',
        reason: expect.stringMatching(/DATABASE_MIGRATION_URL/),
      });
      const verify = await fetch(`${weak.url}/api/audit/verify`, { headers: { Authorization: 'health-secret-1234' } });
      expect(await verify.json()).toMatchObject({ status: 'intact', protection: 'weak' });
    } finally {
      await weak.close();
    }
  });

  it('should show stopped checkpoints while the newest one is signed with a key the broker does not trust', async () => {
    const auth = { headers: { Authorization: 'health-secret-1234' } };
    // A failed admin call is an event; the first checkpoint is due at once.
    await fetch(`${broker.url}/api/profiles`);
    const checkpointCount = async () =>
      ((await (await fetch(`${broker.url}/api/audit/checkpoints`, auth)).json()) as { data: unknown[] }).data.length;
    await waitFor('a signed checkpoint', async () => (await checkpointCount()) > 0, 10_000);
    expect(await checkpointCount()).toBeGreaterThan(0);
    const dir = mkdtempSync(path.join(tmpdir(), 'health-rotated-'));
    const saved = path.join(dir, 'keys.json');
    writeFileSync(saved, await (await fetch(`${broker.url}/api/audit/keys`, auth)).text());
    // Another data folder: another generated signing key, as after a rotation.
    const env = { DATABASE_URL: pgServer.url, DATABASE_MIGRATION_URL: pgServer.migrationUrl, BROKER_DATA_DIR: dir };
    const ready = async (b: TestBroker) =>
      ((await (await fetch(`${b.url}/health/ready`)).json()) as { details: { audit: Record<string, unknown> } }).details
        .audit;
    const rotated = await startTestBroker(testConfig({ ...env, TYK_IB_SECRET: 'health-secret-1234' }));
    try {
      await waitFor('the checkpoints to stop', async () => (await ready(rotated)).checkpoints !== undefined, 10_000);
      expect(await ready(rotated)).toMatchObject({
        status: 'up',
        checkpoints: 'stopped',
        checkpointProblem: { kid: expect.any(String), reason: expect.stringMatching(/neither holds nor trusts/) },
      });
    } finally {
      await rotated.close();
    }
    const trusting = await startTestBroker(
      testConfig({ ...env, TYK_IB_SECRET: 'health-secret-1234', BROKER_AUDIT_TRUSTED_KEYS_FILE: saved }),
    );
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(await ready(trusting)).toEqual({ status: 'up', protection: 'strong' });
    } finally {
      await trusting.close();
    }
  });

  it('should show the sealer ok, and stalled while sealing is held off past BROKER_AUDIT_SEALER_STALLED_SECONDS, still ready', async () => {
    const stalling = await startTestBroker(
      testConfig({
        DATABASE_URL: pgServer.url,
        DATABASE_MIGRATION_URL: pgServer.migrationUrl,
        TYK_IB_SECRET: 'health-secret-1234',
        BROKER_AUDIT_SEALER_STALLED_SECONDS: '1',
      }),
    );
    const ready = async () => {
      const res = await fetch(`${stalling.url}/health/ready`);
      const body = (await res.json()) as { details: { audit_sealer: Record<string, unknown> } };
      return { status: res.status, sealer: body.details.audit_sealer };
    };
    const ok = { status: 'up', state: 'ok', oldestUnsealedSeconds: 0, stalledAfterSeconds: 1 };
    // Anyone with the runtime role (or a hung instance) can hold the lock every sealer takes.
    const holder = new pg.Client({ connectionString: pgServer.url });
    await holder.connect();
    try {
      await waitFor('every event sealed', async () => (await ready()).sealer.oldestUnsealedSeconds === 0, 10_000);
      expect(await ready()).toEqual({ status: 200, sealer: ok });
      await holder.query(`SELECT pg_advisory_lock(hashtext('broker.audit.sealer'))`);
      // A failed admin call is an event; it waits for its seal.
      await fetch(`${stalling.url}/api/profiles`);
      await new Promise((r) => setTimeout(r, 1600));
      // Every replica shares the one sealer: readiness stays 200 (logins go on), the detail says it.
      expect(await ready()).toEqual({
        status: 200,
        sealer: { status: 'up', state: 'stalled', oldestUnsealedSeconds: expect.any(Number), stalledAfterSeconds: 1 },
      });
      await holder.query(`SELECT pg_advisory_unlock(hashtext('broker.audit.sealer'))`);
      await waitFor('the sealer to catch up', async () => (await ready()).sealer.state === 'ok', 10_000);
      expect(await ready()).toEqual({ status: 200, sealer: ok });
    } finally {
      await holder.end();
      await stalling.close();
    }
  });

  it('should report ready, then 503 while the database is down, then ready again without a restart', async () => {
    expect((await fetch(`${broker.url}/health/ready`)).status).toBe(200);
    await pgServer.stop();
    const down = await fetch(`${broker.url}/health/ready`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBe('unavailable');
    expect((await fetch(`${broker.url}/health/live`)).status).toBe(200);
    await pgServer.start();
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await fetch(`${broker.url}/health/ready`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
  });
});
