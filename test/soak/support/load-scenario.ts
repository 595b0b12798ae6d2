import { spawn } from 'node:child_process';
import { freePort } from '@app/database';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import { builtEntry } from '@test/support/built.js';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { fakeIdpUsers, startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';
import {
  gcFunction,
  loginAs,
  LoadTally,
  runPool,
  settledHeapMb,
  type LoadSummary,
  type LoginTarget,
} from './login-driver.js';

export const LOAD_ADMIN_SECRET = 'load-admin-secret-5531';
export const LOAD_PORTAL_SECRET = 'load-portal-secret-8810';
export const LOAD_PORTAL_TOKEN = 'load-portal-token-2291';

/** The broker in-process on a fresh database, the portal emulator, and the load IdP. */
export interface LoadStack {
  db: TestDatabase;
  sql: pg.Client;
  idp: FakeIdp;
  portal: PortalProcess;
  broker: TestBroker;
  target: LoginTarget;
  stop(): Promise<void>;
}

export interface PortalProcess {
  url: string;
  stop(): Promise<void>;
}

/**
 * The built portal emulator as a child process: on two cores it then runs beside the test process
 * (broker, IdP and clients) instead of inside it, and its request log stays out of the heap the
 * load run measures.
 */
export async function startPortalProcess(apiSecret: string, adminToken: string): Promise<PortalProcess> {
  const child = spawn(process.execPath, [builtEntry('portal-emulator')], {
    env: {
      PATH: process.env.PATH ?? '',
      PORTAL_API_SECRET: apiSecret,
      PORTAL_ADMIN_TOKEN: adminToken,
      PORTAL_EMULATOR_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`portal emulator not ready within 20 s:\n${output}`)), 20_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`portal emulator exited (${code}):\n${output}`));
    });
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export async function startLoadStack(options: {
  users: number;
  orgs: number;
  organisationSync?: boolean;
}): Promise<LoadStack> {
  Logger.overrideLogger(['error']);
  const db = await createTestDatabase('load');
  const idp = await startFakeIdp({ fastSigning: true, users: fakeIdpUsers(options.users, options.orgs) });
  const portal = await startPortalProcess(LOAD_PORTAL_SECRET, LOAD_PORTAL_TOKEN);
  const portalUrl = new URL(portal.url);
  const port = await freePort();
  const broker = await startTestBroker(
    testConfig({
      DATABASE_URL: db.url,
      DATABASE_POOL_SIZE: '20',
      TYK_IB_SECRET: LOAD_ADMIN_SECRET,
      TYK_LOGLEVEL: 'error',
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${portalUrl.protocol}//${portalUrl.hostname}`,
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: portalUrl.port,
      TYK_PORTAL_ADMIN_TOKEN: LOAD_PORTAL_TOKEN,
      TYK_PORTAL_TIMEOUT_MS: '10000',
      BROKER_IDP_TIMEOUT_MS: '10000',
      BROKER_AUDIT_SEAL_INTERVAL_MS: '200',
      // One client IP sends every login here; the limit has its own test (hostile-input).
      BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0',
    }),
    port,
  );
  const target: LoginTarget = {
    brokerUrl: broker.url,
    profileId: 'load',
    returnUrl: `${portal.url}/sso`,
    failureRedirect: `${portal.url}/?fail=true`,
  };
  const profile = {
    ID: 'load',
    Name: 'Load',
    OrgID: '0',
    ActionType: 'GenerateOrLoginDeveloperProfile',
    ProviderName: 'SocialProvider',
    Type: 'redirect',
    DefaultUserGroupID: '1',
    IdentityHandlerConfig: {
      DashboardCredential: LOAD_PORTAL_SECRET,
      ...(options.organisationSync ? { OrganisationSync: { Enabled: true } } : {}),
    },
    ProviderConfig: {
      CallbackBaseURL: broker.url,
      FailureRedirect: target.failureRedirect,
      UseProviders: [
        {
          Name: 'openid-connect',
          Key: idp.clientId,
          Secret: idp.clientSecret,
          DiscoverURL: idp.discoverUrl,
          Scopes: ['openid', 'email', 'profile'],
        },
      ],
    },
    ReturnURL: target.returnUrl,
  };
  const res = await fetch(`${broker.url}/api/profiles/load`, {
    method: 'POST',
    headers: { Authorization: LOAD_ADMIN_SECRET, 'Content-Type': 'application/json' },
    body: JSON.stringify(profile),
  });
  if (res.status !== 201) throw new Error(`profile: ${res.status} ${await res.text()}`);
  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  return {
    db,
    sql,
    idp,
    portal,
    broker,
    target,
    stop: async () => {
      await sql.end().catch(() => undefined);
      await broker.close().catch(() => undefined);
      await portal.stop().catch(() => undefined);
      await idp.stop().catch(() => undefined);
      await db.drop().catch(() => undefined);
    },
  };
}

export interface LoadRun {
  summary: LoadSummary;
  /** heapUsed (MB, after GC when available) after the first and after the second half. */
  heapMb: [number, number];
  rssMb: [number, number];
  gcAvailable: boolean;
}

/** `logins` logins of the IdP's users (round-robin) at `concurrency`, in two halves, heap measured after each. */
export async function runLoad(stack: LoadStack, logins: number, concurrency: number): Promise<LoadRun> {
  const subs = [...stack.idp.users.keys()];
  const gc = gcFunction();
  const half = Math.floor(logins / 2);
  const tally = new LoadTally();
  const heapMb: number[] = [];
  const rssMb: number[] = [];
  const started = performance.now();
  for (const [from, count] of [
    [0, half],
    [half, logins - half],
  ] as const) {
    await runPool(count, concurrency, async (i) =>
      tally.add(await loginAs(stack.target, subs[(from + i) % subs.length])),
    );
    heapMb.push(settledHeapMb(gc));
    rssMb.push(process.memoryUsage().rss / 1024 / 1024);
  }
  const summary = tally.summary((performance.now() - started) / 1000);
  return { summary, heapMb: [heapMb[0], heapMb[1]], rssMb: [rssMb[0], rssMb[1]], gcAvailable: gc !== null };
}

export async function countEvents(sql: pg.Client, type: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events WHERE type = $1', [
    type,
  ]);
  return rows[0].n;
}

/** The recorded reason and details of every failed login: what a failing load run's message shows. */
export async function failedLogins(sql: pg.Client): Promise<{ reason: string | null; details: unknown }[]> {
  const { rows } = await sql.query<{ reason: string | null; details: unknown }>(
    `SELECT reason, details FROM audit_events WHERE type = 'login.failed' ORDER BY id LIMIT 20`,
  );
  return rows;
}

export interface VerifyAnswer {
  status: string;
  count: number;
  unsealed: number;
}

/** Waits until every event is sealed, then returns GET /api/audit/verify's answer. */
export async function verifyChain(brokerUrl: string, adminSecret: string, timeoutMs = 20_000): Promise<VerifyAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${brokerUrl}/api/audit/verify`, { headers: { Authorization: adminSecret } });
    const body = (await res.json()) as VerifyAnswer;
    if (res.status === 200 && (body.unsealed === 0 || Date.now() > deadline)) return body;
    if (Date.now() > deadline) throw new Error(`verify answered ${res.status}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
