import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '@app/database';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';
import { builtEntry } from '@test/support/built.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { fakeIdpUsers, startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';
import {
  authorizeAt,
  classify,
  hop,
  startLogin,
  type LoginEnd,
  type LoginTarget,
} from '../soak/support/login-driver.js';
import { verifyChain } from '../soak/support/load-scenario.js';

/**
 * The BUILT broker as a child process on a shared database, killed with SIGKILL in the middle of
 * a run of logins at concurrency 20, then started again: the audit chain verifies, no login state
 * can be used twice, states of logins that were waiting at the IdP still work, no developer and no
 * portal organisation exists twice, and logins go on.
 */

const ADMIN_SECRET = 'crash-admin-secret-4471';
const PORTAL_SECRET = 'crash-portal-secret-9902';
const PORTAL_TOKEN = 'crash-portal-token-3318';
const CONCURRENCY = 20;

interface Attempt {
  sub: string;
  cookie: string;
  callbackUrl: string | null;
  /** done: the broker answered the callback; parked: stopped at the IdP; interrupted: the kill cut it. */
  phase: 'start' | 'idp' | 'callback' | 'done' | 'parked' | 'interrupted';
  /** How far it got before it was cut. */
  cutAt?: 'start' | 'idp' | 'callback';
  end?: LoginEnd;
}

class BrokerProcess {
  private child: ChildProcess | null = null;
  output = '';

  constructor(private readonly env: Record<string, string>) {}

  async start(url: string): Promise<void> {
    const child = spawn(process.execPath, [builtEntry('broker')], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the broker exited (${child.exitCode}):\n${this.output}`);
      try {
        if ((await fetch(`${url}/health/ready`)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the broker was not ready within 30 s:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
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

describe('crash: SIGKILL during a login run, then restart (built broker, e2e)', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let idp: FakeIdp;
  let portal: PortalEmulator;
  let broker: BrokerProcess;
  let target: LoginTarget;
  const attempts: Attempt[] = [];
  let inflightAtKill = 0;

  /** One login of `sub`, recorded; after `stop()` says so it parks at the IdP instead of calling back. */
  async function attempt(sub: string, stop: () => boolean): Promise<Attempt> {
    const a: Attempt = { sub, cookie: '', callbackUrl: null, phase: 'start' };
    attempts.push(a);
    try {
      const started = await startLogin(target.brokerUrl, target.profileId);
      a.cookie = started.cookie;
      if (started.status !== 307 || !started.location.startsWith(idp.issuer)) {
        a.end = classify(started.status, started.location, target.returnUrl, target.failureRedirect);
        a.phase = 'done';
        return a;
      }
      a.phase = 'idp';
      a.callbackUrl = await authorizeAt(started.location, sub);
      if (stop()) {
        a.phase = 'parked';
        return a;
      }
      a.phase = 'callback';
      const done = await hop(a.callbackUrl, { headers: { cookie: a.cookie } });
      a.end = classify(done.status, done.location, target.returnUrl, target.failureRedirect);
      a.phase = 'done';
    } catch {
      a.cutAt = a.phase as 'start' | 'idp' | 'callback';
      a.phase = 'interrupted';
    }
    return a;
  }

  const replay = async (a: Attempt): Promise<LoginEnd> => {
    const res = await hop(a.callbackUrl ?? '', { headers: { cookie: a.cookie } });
    return classify(res.status, res.location, target.returnUrl, target.failureRedirect);
  };

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase('crash');
    idp = await startFakeIdp({ fastSigning: true, users: fakeIdpUsers(60, 6, 'crash') });
    portal = await startPortalEmulator({ apiSecret: PORTAL_SECRET, adminToken: PORTAL_TOKEN });
    const portalUrl = new URL(portal.url);
    const port = await freePort();
    const brokerUrl = `http://127.0.0.1:${port}`;
    target = {
      brokerUrl,
      profileId: 'crash',
      returnUrl: `${portal.url}/sso`,
      failureRedirect: `${portal.url}/?fail=true`,
    };
    broker = new BrokerProcess({
      DATABASE_URL: db.url,
      TYK_IB_PORT: String(port),
      BROKER_HOST: '127.0.0.1',
      BROKER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'crash-broker-')),
      TYK_IB_SECRET: ADMIN_SECRET,
      TYK_LOGLEVEL: 'warn',
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${portalUrl.protocol}//${portalUrl.hostname}`,
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: portalUrl.port,
      TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
      BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0',
      BROKER_AUDIT_SEAL_INTERVAL_MS: '200',
    });
    await broker.start(brokerUrl);
    const profile = {
      ID: 'crash',
      Name: 'Crash',
      OrgID: '0',
      ActionType: 'GenerateOrLoginDeveloperProfile',
      ProviderName: 'SocialProvider',
      Type: 'redirect',
      DefaultUserGroupID: '1',
      IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET, OrganisationSync: { Enabled: true } },
      ProviderConfig: {
        CallbackBaseURL: brokerUrl,
        FailureRedirect: target.failureRedirect,
        UseProviders: [
          { Name: 'openid-connect', Key: idp.clientId, Secret: idp.clientSecret, DiscoverURL: idp.discoverUrl },
        ],
      },
      ReturnURL: target.returnUrl,
    };
    const res = await fetch(`${brokerUrl}/api/profiles/crash`, {
      method: 'POST',
      headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' },
      body: JSON.stringify(profile),
    });
    expect(res.status).toBe(201);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  }, 60_000);

  afterAll(async () => {
    await broker?.kill('SIGTERM');
    await sql?.end();
    await portal?.stop();
    await idp?.stop();
    await db?.drop();
  });

  it('should be killed with SIGKILL while logins are in flight, and start again on the same database', async () => {
    const subs = [...idp.users.keys()];
    let killed = false;
    let next = 0;
    const doneCount = () => attempts.filter((a) => a.phase === 'done').length;
    const worker = async () => {
      while (!killed) await attempt(subs[next++ % subs.length], () => killed);
    };
    const workers = Array.from({ length: CONCURRENCY }, worker);
    const deadline = Date.now() + 20_000;
    while (doneCount() < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Developers still at the IdP's login page when the broker dies: their states must survive.
    for (const sub of subs.slice(0, 5)) await attempt(sub, () => true);
    while (doneCount() < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    inflightAtKill = attempts.filter((a) => a.phase === 'start' || a.phase === 'idp' || a.phase === 'callback').length;
    killed = true;
    await broker.kill('SIGKILL');
    await Promise.all(workers);

    expect(doneCount()).toBeGreaterThanOrEqual(200);
    expect(inflightAtKill).toBeGreaterThan(0);
    expect(attempts.filter((a) => a.phase === 'interrupted').length).toBeGreaterThan(0);
    const done = attempts.filter((a) => a.phase === 'done');
    expect(done.filter((a) => a.end?.kind !== 'success')).toEqual([]);

    await broker.start(target.brokerUrl);
  }, 60_000);

  it('should refuse every callback answered before the kill with state_invalid when it is replayed', async () => {
    const answered = attempts.filter((a) => a.phase === 'done');
    const ends = await Promise.all(answered.map((a) => replay(a)));
    expect(ends.filter((e) => !(e.kind === 'failure' && e.code === 'state_invalid'))).toEqual([]);
  });

  it('should finish a callback cut by the kill at most once', async () => {
    const cut = attempts.filter((a) => a.phase === 'interrupted' && a.callbackUrl !== null && a.cutAt === 'callback');
    for (const a of cut) {
      const first = await replay(a);
      // Either the kill came before the state was consumed (the login finishes now), or after.
      expect(first.kind === 'success' || (first.kind === 'failure' && first.code === 'state_invalid')).toBe(true);
      if (first.kind === 'success') a.end = first;
      expect(await replay(a)).toEqual(expect.objectContaining({ kind: 'failure', code: 'state_invalid' }));
    }
  });

  it('should finish the logins that were waiting at the IdP during the crash, once', async () => {
    const parked = attempts.filter((a) => a.phase === 'parked');
    expect(parked.length).toBeGreaterThanOrEqual(5);
    for (const a of parked) {
      const first = await replay(a);
      expect(first).toMatchObject({ kind: 'success' });
      a.end = first;
      expect(await replay(a)).toEqual(expect.objectContaining({ kind: 'failure', code: 'state_invalid' }));
    }
  });

  it('should keep signing developers in after the restart', async () => {
    const subs = [...idp.users.keys()];
    const results = await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, w) => {
        const ends: LoginEnd[] = [];
        for (let i = w; i < 100; i += CONCURRENCY) ends.push((await attempt(subs[i % subs.length], () => false)).end!);
        return ends;
      }),
    );
    expect(results.flat().filter((e) => e.kind !== 'success')).toEqual([]);
  });

  it('should leave an intact audit chain, with one login.succeeded per login that finished', async () => {
    const verify = await verifyChain(target.brokerUrl, ADMIN_SECRET);
    expect(verify).toMatchObject({ status: 'intact', unsealed: 0 });
    const { rows } = await sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM audit_events WHERE type = 'login.succeeded'",
    );
    const seen = attempts.filter((a) => a.end?.kind === 'success').length;
    // A callback cut by the kill may have committed its event without the browser seeing the answer.
    const cutUnknown = attempts.filter(
      (a) => a.phase === 'interrupted' && a.cutAt === 'callback' && a.end === undefined,
    ).length;
    expect(rows[0].n).toBeGreaterThanOrEqual(seen);
    expect(rows[0].n).toBeLessThanOrEqual(seen + cutUnknown);
  });

  it('should keep one developer per subject and one portal organisation per Cloudentity organisation', async () => {
    const { rows: dups } = await sql.query(
      'SELECT issuer, subject, count(*) FROM developers GROUP BY issuer, subject HAVING count(*) > 1',
    );
    expect(dups).toEqual([]);
    const { rows } = await sql.query<{ subject: string }>('SELECT subject FROM developers');
    const signedIn = new Set(attempts.filter((a) => a.end?.kind === 'success').map((a) => a.sub));
    const stored = new Set(rows.map((r) => r.subject));
    expect(stored.size).toBe(rows.length);
    for (const sub of signedIn) expect(stored.has(sub)).toBe(true);
    for (const sub of stored) expect(idp.users.has(sub)).toBe(true);

    const names = [...portal.state.orgs.values()].map((o) => o.Name).filter((n) => n.startsWith('crash organisation'));
    expect(names.sort()).toEqual([...new Set(names)].sort());
    expect(names).toHaveLength(6);
    const { rows: links } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM portal_org_links');
    expect(links[0].n).toBe(6);
    const emails = [...portal.state.users.values()].map((u) => u.Email);
    expect(emails.length).toBe(new Set(emails).size);
    const ssoKeys = [...portal.state.developers.values()].map((d) => d.ssoKey);
    expect(ssoKeys.length).toBe(new Set(ssoKeys).size);
    expect(ssoKeys.length).toBe(signedIn.size);
  });

  it('should leave no login state that can be used again, only unexpired ones of logins never called back', async () => {
    const { rows } = await sql.query<{ n: number; stale: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE expires_at <= now() OR expires_at > now() + interval '10 minutes')::int AS stale
         FROM login_states`,
    );
    const neverCalledBack = attempts.filter(
      (a) => a.phase === 'interrupted' && a.cutAt !== 'callback' && a.end === undefined,
    ).length;
    expect(rows[0].stale).toBe(0);
    expect(rows[0].n).toBeLessThanOrEqual(neverCalledBack);
  });
});
