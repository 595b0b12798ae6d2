import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '@app/database';
import pg from 'pg';
import { builtEntry } from '@test/support/built.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { ocsfViolations } from '@test/support/ocsf-classes.js';
import { SiemReceiver, waitFor } from '@test/support/siem-receiver.js';

/**
 * The BUILT broker streams its audit log over HTTPS to a SIEM whose certificate comes from a
 * private CA: refused until the CA is given through NODE_EXTRA_CA_CERTS, then delivered; killed
 * with SIGKILL while a batch is in flight and started again: every event arrives, in chain order,
 * none lost (the unacknowledged batch is sent again).
 */

const ADMIN_SECRET = 'stream-e2e-admin-secret-7781';
const STREAM_SECRET = 'stream-e2e-signing-secret-4410';

function selfSignedCert(): { certFile: string; cert: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'siem-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    '/usr/bin/openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
      .concat(['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
      .concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'ignore' },
  );
  return { certFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

class BrokerProcess {
  private child: ChildProcess | null = null;
  output = '';

  async start(url: string, env: Record<string, string>): Promise<void> {
    // A test that failed half-way may have left one running: never orphan it (it would keep jest alive).
    await this.kill('SIGKILL');
    const child = spawn(process.execPath, [builtEntry('broker')], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    await waitFor(`the broker to be ready:\n${this.output}`, async () => {
      if (child.exitCode !== null) throw new Error(`the broker exited (${child.exitCode}):\n${this.output}`);
      return fetch(`${url}/health/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
    });
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

interface StreamDetails {
  state: string;
  last_error: string | null;
  lag_seconds: number;
  last_delivered_event_id: string | null;
}

describe('audit stream: HTTPS with a private CA, SIGKILL mid-batch (built broker, e2e)', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let receiver: SiemReceiver;
  let certFile: string;
  let brokerUrl: string;
  let env: Record<string, string>;
  const broker = new BrokerProcess();

  const readiness = async (): Promise<StreamDetails> => {
    const body = (await (await fetch(`${brokerUrl}/health/ready`)).json()) as {
      details: { audit_stream: StreamDetails };
    };
    return body.details.audit_stream;
  };

  /** Events as the broker writes them (the runtime's INSERT), n at a time. */
  const insertEvents = async (n: number, tag: string) => {
    await sql.query(
      `INSERT INTO audit_events (type, outcome, reason, actor, organisation_id, request_id)
       SELECT 'login.failed', 'failure', 'idp_error', 'anonymous', 'org-' || (g % 3), $1 || g
         FROM generate_series(1, $2::int) g`,
      [tag, n],
    );
  };

  beforeAll(async () => {
    db = await createTestDatabase('audit_stream_e2e');
    const tls = selfSignedCert();
    certFile = tls.certFile;
    receiver = new SiemReceiver(STREAM_SECRET, { cert: tls.cert, key: tls.key });
    await receiver.start();
    const port = await freePort();
    brokerUrl = `http://127.0.0.1:${port}`;
    env = {
      DATABASE_URL: db.url,
      TYK_IB_PORT: String(port),
      BROKER_HOST: '127.0.0.1',
      BROKER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'stream-broker-')),
      TYK_IB_SECRET: ADMIN_SECRET,
      TYK_LOGLEVEL: 'warn',
      BROKER_AUDIT_SEAL_INTERVAL_MS: '100',
      BROKER_AUDIT_STREAM_URL: receiver.url,
      BROKER_AUDIT_STREAM_SECRET: STREAM_SECRET,
      BROKER_AUDIT_STREAM_BATCH_SIZE: '25',
      BROKER_AUDIT_STREAM_INTERVAL_MS: '100',
      BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '500',
    };
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  }, 60_000);

  afterAll(async () => {
    await broker.kill('SIGTERM');
    await sql?.end();
    await receiver?.stop();
    await db?.drop();
  });

  it('should refuse the SIEM’s certificate while its CA is unknown, and say so in /health/ready', async () => {
    await broker.start(brokerUrl, env);
    await insertEvents(10, 'untrusted-');
    await waitFor('a TLS failure in the stream state', async () => (await readiness()).state === 'retrying');
    const state = await readiness();
    expect(state.last_error).toMatch(/request failed: .*(CERT|SIGNED)/);
    expect(state.lag_seconds).toBeGreaterThan(0);
    expect(receiver.batches).toEqual([]);
    await broker.kill('SIGTERM');
  }, 60_000);

  it('should deliver everything once the CA is trusted, through a SIGKILL in the middle of a batch', async () => {
    const trusted = { ...env, NODE_EXTRA_CA_CERTS: certFile };
    receiver.mode = 'slow';
    receiver.slowMs = 1500;
    await broker.start(brokerUrl, trusted);
    // A profile write through the admin API: a real API Activity event among the rest.
    const res = await fetch(`${brokerUrl}/api/profiles/stream-p1`, {
      method: 'POST',
      headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        ID: 'stream-p1',
        Name: 'Stream',
        OrgID: '0',
        ActionType: 'GenerateOrLoginDeveloperProfile',
        ProviderName: 'SocialProvider',
        Type: 'redirect',
        ProviderConfig: {
          CallbackBaseURL: brokerUrl,
          FailureRedirect: 'http://127.0.0.1:1/failed',
          UseProviders: [
            {
              Name: 'openid-connect',
              Key: 'c',
              Secret: 's',
              DiscoverURL: 'http://127.0.0.1:1/.well-known/openid-configuration',
            },
          ],
        },
        ReturnURL: 'http://127.0.0.1:1/sso',
      }),
    });
    expect(res.status).toBe(201);
    await insertEvents(200, 'before-kill-');
    await waitFor('a batch in flight at the receiver', () => receiver.answered.slow >= 1);
    await broker.kill('SIGKILL');
    await insertEvents(50, 'while-down-');

    receiver.mode = 'ok';
    await broker.start(brokerUrl, trusted);
    await insertEvents(50, 'after-restart-');
    const all = async () =>
      (await sql.query<{ id: string }>(`SELECT id::text AS id FROM audit_events ORDER BY seq NULLS LAST`)).rows.map(
        (r) => r.id,
      );
    await waitFor(
      'every event delivered',
      async () => {
        const ids = await all();
        const seen = new Set(receiver.firstSeenIds());
        return ids.every((id) => seen.has(id));
      },
      60_000,
    );
    expect(receiver.firstSeenIds()).toEqual(await all());
    for (const batch of receiver.batches) {
      expect(batch.signatureValid).toBe(true);
      for (const line of batch.lines) expect(ocsfViolations(line)).toEqual([]);
    }
    // The profile writes are API Activity [6003], Create; so is the first checkpoint run's audit.checkpoints_started.
    const apiActivity = receiver.batches
      .flatMap((b) => b.lines)
      .filter((l) => l.class_uid === 6003)
      .map((l) => [l.activity_id, (l.api as { operation?: string } | undefined)?.operation]);
    expect(apiActivity).toContainEqual([1, 'profile.created']);
    expect(apiActivity).toContainEqual([1, 'audit.checkpoints_started']);

    await waitFor('the lag back to 0', async () => (await readiness()).lag_seconds === 0);
    const ids = await all();
    expect(await readiness()).toMatchObject({
      state: 'delivering',
      last_error: null,
      last_delivered_event_id: ids[ids.length - 1],
    });
    const metrics = await (await fetch(`${brokerUrl}/metrics`)).text();
    expect(metrics).toMatch(/^broker_audit_stream_lag_seconds \d/m);
  }, 120_000);
});
