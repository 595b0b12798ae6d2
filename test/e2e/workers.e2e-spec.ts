import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '@app/database';
import { Logger } from '@nestjs/common';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';
import { builtEntry } from '@test/support/built.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { fakeIdpUsers, startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';
import { createServer } from 'node:net';
import pg from 'pg';
import { lineId, SiemReceiver } from '@test/support/siem-receiver.js';
import { loginAs, runPool, type LoginEnd, type LoginTarget } from '../soak/support/login-driver.js';
import { verifyChain } from '../soak/support/load-scenario.js';

/**
 * The BUILT broker with BROKER_WORKERS=2 (node:cluster): logins through the fake IdP and the
 * portal emulator are served by both workers, /metrics counts the logins of both, a profile
 * changed through the admin API is used by both, a worker killed with SIGKILL is replaced while
 * logins go on, and SIGTERM to the primary drains the workers and exits 0.
 */

const ADMIN_SECRET = 'workers-admin-secret-5521';
const STREAM_SECRET = 'workers-stream-secret-8830';
const PORTAL_SECRET = 'workers-portal-secret-7310';
const PORTAL_TOKEN = 'workers-portal-token-2297';
const LOGINS = 24;
const CONCURRENCY = 8;

interface Listening {
  worker: number;
  pid: number;
}

/** The primary's "worker N listening" lines, in order. */
function listeningWorkers(output: string): Listening[] {
  return output
    .split('\n')
    .filter((l) => l.includes('"role":"primary"') && l.includes('listening on'))
    .map((l) => JSON.parse(l) as { worker: number; workerPid: number })
    .map((l) => ({ worker: l.worker, pid: l.workerPid }));
}

/** The pids of the workers that answered a login callback, from their request log lines. */
function callbackPids(output: string): Set<number> {
  const pids = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{') || !line.includes('/openid-connect/callback')) continue;
    let entry: { pid?: number; worker?: number; reqId?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // the last line may still be arriving
    }
    if (entry.reqId && entry.worker !== undefined && entry.pid !== undefined) pids.add(entry.pid);
  }
  return pids;
}

const waitFor = async (what: string, check: () => boolean, output: () => string): Promise<void> => {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 60 s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('BROKER_WORKERS=2: one port, two worker processes (built broker, e2e)', () => {
  let db: TestDatabase;
  let idp: FakeIdp;
  let portal: PortalEmulator;
  let primary: ChildProcess;
  let output = '';
  let target: LoginTarget;
  let profile: Record<string, unknown>;
  let primaryExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let receiver: SiemReceiver;

  const profileUrl = () => `${target.brokerUrl}/api/profiles/workers`;
  const admin = { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' };

  /** LOGINS logins at CONCURRENCY; returns their ends and the pids whose logs show a callback. */
  async function loginRound(): Promise<{ ends: LoginEnd[]; pids: Set<number> }> {
    const from = output.length;
    const subs = [...idp.users.keys()];
    const ends: LoginEnd[] = [];
    await runPool(LOGINS, CONCURRENCY, async (i) => {
      ends.push((await loginAs(target, subs[i % subs.length])).end);
    });
    // The completion line is written when the answer finishes; the next log flush brings it.
    await waitFor(
      'every callback log line',
      () => countCallbacks(output.slice(from)) >= LOGINS,
      () => output,
    );
    return { ends, pids: callbackPids(output.slice(from)) };
  }

  const countCallbacks = (text: string) =>
    text.split('\n').filter((l) => l.startsWith('{') && l.includes('/openid-connect/callback') && l.includes('"reqId"'))
      .length;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase('workers');
    idp = await startFakeIdp({ fastSigning: true, users: fakeIdpUsers(40, 4, 'workers') });
    portal = await startPortalEmulator({ apiSecret: PORTAL_SECRET, adminToken: PORTAL_TOKEN });
    receiver = new SiemReceiver(STREAM_SECRET);
    await receiver.start();
    const portalUrl = new URL(portal.url);
    const port = await freePort();
    target = {
      brokerUrl: `http://127.0.0.1:${port}`,
      profileId: 'workers',
      returnUrl: `${portal.url}/sso`,
      failureRedirect: `${portal.url}/?fail=true`,
    };
    primary = spawn(process.execPath, [builtEntry('broker')], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        TMPDIR: process.env.TMPDIR ?? tmpdir(),
        BROKER_WORKERS: '2',
        DATABASE_URL: db.url,
        TYK_IB_PORT: String(port),
        BROKER_HOST: '127.0.0.1',
        BROKER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'workers-broker-')),
        TYK_IB_SECRET: ADMIN_SECRET,
        // info: the request log lines name the worker that served each callback.
        TYK_LOGLEVEL: 'info',
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${portalUrl.protocol}//${portalUrl.hostname}`,
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: portalUrl.port,
        TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
        BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0',
        // Both workers' sealers and SIEM senders run often, so they meet.
        BROKER_AUDIT_SEAL_INTERVAL_MS: '100',
        BROKER_AUDIT_STREAM_URL: receiver.url,
        BROKER_AUDIT_STREAM_SECRET: STREAM_SECRET,
        BROKER_AUDIT_STREAM_BATCH_SIZE: '10',
        BROKER_AUDIT_STREAM_INTERVAL_MS: '50',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    primary.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    primary.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    primaryExit = new Promise((resolve) => primary.once('exit', (code, signal) => resolve({ code, signal })));
    await waitFor(
      'two workers listening',
      () => listeningWorkers(output).length >= 2,
      () => output,
    );
    profile = {
      ID: 'workers',
      Name: 'Workers',
      OrgID: '0',
      ActionType: 'GenerateOrLoginDeveloperProfile',
      ProviderName: 'SocialProvider',
      Type: 'redirect',
      DefaultUserGroupID: '1',
      IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET, OrganisationSync: { Enabled: true } },
      ProviderConfig: {
        CallbackBaseURL: target.brokerUrl,
        FailureRedirect: target.failureRedirect,
        UseProviders: [
          { Name: 'openid-connect', Key: idp.clientId, Secret: idp.clientSecret, DiscoverURL: idp.discoverUrl },
        ],
      },
      ReturnURL: target.returnUrl,
    };
    const res = await fetch(profileUrl(), { method: 'POST', headers: admin, body: JSON.stringify(profile) });
    expect(res.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    if (primary && primary.exitCode === null && primary.signalCode === null) {
      primary.kill('SIGKILL');
      await primaryExit;
    }
    await receiver?.stop();
    await portal?.stop();
    await idp?.stop();
    await db?.drop();
  });

  it('should serve complete logins from both workers and count them all in /metrics', async () => {
    const workers = listeningWorkers(output);
    expect(new Set(workers.map((w) => w.pid)).size).toBe(2);
    expect(workers.map((w) => w.pid)).not.toContain(primary.pid);

    const { ends, pids } = await loginRound();
    expect(ends.filter((e) => e.kind === 'success')).toHaveLength(LOGINS);
    expect([...pids].sort()).toEqual(workers.map((w) => w.pid).sort());

    // Whichever worker answers the scrape, it reports the logins of both.
    for (let i = 0; i < 4; i++) {
      const text = await (await fetch(`${target.brokerUrl}/metrics`)).text();
      expect(text).toContain(`broker_logins_total{outcome="success",reason="ok"} ${LOGINS}`);
      expect(text).toContain('broker_cluster_workers{state="listening"} 2');
    }
  }, 120_000);

  it('should use a profile changed through the admin API on both workers', async () => {
    const changedReturn = `${portal.url}/sso-changed`;
    const res = await fetch(profileUrl(), {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ ...profile, ReturnURL: changedReturn }),
    });
    expect(res.status).toBe(200);
    target = { ...target, returnUrl: changedReturn };
    // The change reaches the other worker through LISTEN/NOTIFY (asynchronously): rounds of logins
    // until one, spread over both workers, ends at the new ReturnURL every time (a worker with a
    // stale profile would send its logins to the old one, which classify() does not count).
    const deadline = Date.now() + 20_000;
    let last = await loginRound();
    while ((last.pids.size < 2 || last.ends.some((e) => e.kind !== 'success')) && Date.now() < deadline) {
      last = await loginRound();
    }
    expect(last.pids.size).toBe(2);
    expect(last.ends.map((e) => e.kind)).toEqual(Array.from({ length: LOGINS }, () => 'success'));
  }, 120_000);

  it('should seal one audit chain and stream each event once while both workers run a sealer and a sender', async () => {
    const verify = await verifyChain(target.brokerUrl, ADMIN_SECRET);
    expect(verify).toMatchObject({ status: 'intact', unsealed: 0 });
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      const all = async () =>
        (await sql.query<{ id: string }>(`SELECT id::text AS id FROM audit_events ORDER BY seq`)).rows.map((r) => r.id);
      const deadline = Date.now() + 30_000;
      while (receiver.firstSeenIds().length < (await all()).length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // Every event, in chain order, and none twice: one sender at a time (the cursor row lock).
      const sent = receiver.batches.flatMap((b) => b.lines.map(lineId));
      expect(sent).toEqual(await all());
      expect(receiver.batches.every((b) => b.signatureValid)).toBe(true);
    } finally {
      await sql.end();
    }
  }, 60_000);

  it('should replace a worker killed with SIGKILL, and logins go on', async () => {
    const [victim, survivor] = listeningWorkers(output);
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(
      'a replacement worker',
      () => listeningWorkers(output).length >= 3,
      () => output,
    );
    const replacement = listeningWorkers(output)[2];
    expect(replacement.pid).not.toBe(victim.pid);
    expect(output).toMatch(new RegExp(`"worker":${victim.worker},[^\\n]*exited unexpectedly; starting a replacement`));

    const { ends, pids } = await loginRound();
    expect(ends.filter((e) => e.kind === 'success')).toHaveLength(LOGINS);
    expect(pids.has(victim.pid)).toBe(false);
    expect([...pids].every((p) => p === survivor.pid || p === replacement.pid)).toBe(true);
  }, 120_000);

  it('should drain every worker on SIGTERM to the primary and exit 0', async () => {
    const workers = listeningWorkers(output).slice(1);
    primary.kill('SIGTERM');
    const exit = await primaryExit;
    // On a failure, the primary's lines and the workers' errors say which worker did not drain.
    const why =
      exit.code === 0 ? '' : output.split('\n').filter((l) => /"role":"primary"|"level":[56]0|shutdown/.test(l));
    expect({ ...exit, why }).toEqual({ code: 0, signal: null, why: '' });
    expect(output).toContain('all workers stopped; exiting with 0');
    for (const w of workers) {
      expect(() => process.kill(w.pid, 0)).toThrow();
    }
  }, 60_000);
});

describe('BROKER_WORKERS=2 when every worker fails at start-up (built broker, e2e)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('workers_loop');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('should give up with exit code 1 and say the workers are crash-looping', async () => {
    // The port is taken, so every worker's listen fails; the primary restarts them with a backoff
    // and stops after more than 5 exits within a minute.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const child = spawn(process.execPath, [builtEntry('broker')], {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          TMPDIR: process.env.TMPDIR ?? tmpdir(),
          BROKER_WORKERS: '2',
          DATABASE_URL: db.url,
          TYK_IB_PORT: String(port),
          BROKER_HOST: '127.0.0.1',
          BROKER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'workers-loop-')),
          TYK_LOGLEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(1);
      expect(out).toContain('the workers are crash-looping, giving up');
      expect(out).toContain('is already in use');
      expect(out.match(/exited unexpectedly; starting a replacement/g)).toHaveLength(5);
    } finally {
      blocker.close();
    }
  }, 120_000);
});
