// `npm run bench`: the login path and the audit queries of the BUILT broker, against real
// Postgres (embedded, or BENCH_DATABASE_URL), a fast IdP stand-in (in this process) and the
// portal emulator (child process). Prints one table and writes bench/results/latest.json.
// See bench/README.md for what each number means and the knobs (BENCH_* variables).
// Over 300 lines, one job: the bench's sequence (start the stack, run each phase in order, print
// and write the results); the phases themselves are in bench/*.mjs modules.
import { BROKER_NODE_FLAGS } from '../scripts/node-flags.mjs';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  connect,
  seedAudit,
  timeBrokerSealer,
  timeConsoleOverview,
  timeExport,
  timeQueries,
  timeVerify,
  waitSealed,
} from './audit.mjs';
import { benchUsers, startFastIdp } from './fake-idp.mjs';
import { request } from './http.mjs';
import { worstCasePhase } from './worst-case.mjs';
import { createDriver } from './logins.mjs';
import { cpuMs, machine, memory } from './procstat.mjs';
import { formatSummary, summariseProfile } from './profile-top.mjs';
import { formatPerf, startPerfRecord, summarisePerf } from './perf-top.mjs';
import {
  BROKER_ENTRY,
  PORTAL_ENTRY,
  analyzeAfterFirstLogins,
  REPO,
  ensureDir,
  freePort,
  sleep,
  startChild,
  startDatabase,
  waitReady,
} from './stack.mjs';
import { formatReport, checkTargets } from './report.mjs';
import { formatAnchors, planAnchors, runAnchors } from './anchors/run-anchors.mjs';
import { formatWorkers, workerCounts, workersPhase } from './workers.mjs';

const env = process.env;
const num = (name, fallback) => (env[name] === undefined || env[name] === '' ? fallback : Number(env[name]));
const flag = (name, fallback) =>
  env[name] === undefined || env[name] === '' ? fallback : env[name] === '1' || env[name] === 'true';

const CPU_PROF = flag('BENCH_CPU_PROF', false);
// perf's cpu-clock profile of the broker at c=32 (bench/perf-top.mjs says why beside BENCH_CPU_PROF).
const PERF = flag('BENCH_PERF', false);
// The 20,000-login memory phase takes 2–4 minutes on the 2-core machine: opt in with BENCH_LONG=1.
const PHASES = new Set(
  (env.BENCH_PHASES ?? (CPU_PROF ? 'logins' : 'logins,worst,audit')).split(',').map((s) => s.trim()),
);
// The anchors (issue 19) go with the logins unless BENCH_ANCHORS=0, or run alone (BENCH_PHASES=anchors);
// not under the profiler (it slows the product only), unless listed.
if (PHASES.has('logins') && !CPU_PROF && env.BENCH_ANCHORS !== '0') PHASES.add('anchors');
if (env.BENCH_LONG === '1') PHASES.add('long');
if (env.BENCH_LONG === '0') PHASES.delete('long');
// BENCH_WORKERS=1,2 (issue 19): after the other phases, the c=32 level with BROKER_WORKERS=1, then 2.
const WORKER_COUNTS = workerCounts(env.BENCH_WORKERS);
const SETTINGS = {
  phases: [...PHASES],
  levels: (env.BENCH_LEVELS ?? '1,8,32,128').split(',').map(Number),
  durationS: num('BENCH_DURATION_S', 10),
  subjects: num('BENCH_SUBJECTS', 400),
  organisations: num('BENCH_ORGS', 6),
  sampleEvery: num('BENCH_SAMPLE_EVERY', 10),
  starts: num('BENCH_STARTS', 3),
  longLogins: num('BENCH_LONG_LOGINS', 20_000),
  longConcurrency: num('BENCH_LONG_CONCURRENCY', 32),
  auditEvents: num('BENCH_AUDIT_EVENTS', 1_000_000),
  auditRuns: num('BENCH_AUDIT_RUNS', 30),
  sealerEvents: num('BENCH_SEALER_EVENTS', 20_000),
  worstS: num('BENCH_WORST_S', 10),
  sealTimeoutS: num('BENCH_SEAL_TIMEOUT_S', 120),
  pgFsync: flag('BENCH_PG_FSYNC', true),
  pgStatements: flag('BENCH_PG_STATS', true),
  userinfo: flag('BENCH_USERINFO', false),
  cpuProfile: CPU_PROF,
  logLevel: env.BENCH_LOGLEVEL ?? 'warn',
  databasePoolSize: env.DATABASE_POOL_SIZE ?? '(broker default)',
  anchorLevels: (env.BENCH_ANCHOR_LEVELS ?? '8,32,128').split(',').map(Number),
  anchorRounds: num('BENCH_ANCHOR_ROUNDS', 2),
  // 3 levels × 2 rounds × 3 systems × 8 s: under three minutes with the anchors' first logins.
  anchorDurationS: num('BENCH_ANCHOR_DURATION_S', Math.min(8, num('BENCH_DURATION_S', 10))),
};

const RESULTS = path.join(REPO, 'bench/results');
const PROFILE_ID = 'bench';
const CLIENT_ID = 'portal-sso-broker-bench';
const CLIENT_SECRET = randomBytes(18).toString('base64url');
const ADMIN_SECRET = randomBytes(18).toString('base64url');
/** The broker's TYK_IB_SESSION_SECRET: the query phase signs its deep cursors with the key derived from it. */
const SESSION_SECRET = randomBytes(24).toString('base64url');
const PORTAL_SECRET = randomBytes(18).toString('base64url');
const PORTAL_TOKEN = randomBytes(18).toString('base64url');

const log = (line) => process.stderr.write(`${line}\n`);
const cleanups = [];

function gitDescribe() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'apps', 'libs'], { cwd: REPO, encoding: 'utf8' }).trim() !==
      '';
    return `${commit}${dirty ? ' (+ uncommitted changes in apps/libs)' : ''}`;
  } catch {
    return null;
  }
}

/** The integration guide's profile (test/fixtures/tib/profiles.json) pointed at the stand-ins, organisation sync on. */
function benchProfile(brokerUrl, portalUrl, idp) {
  const [fixture] = JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/tib/profiles.json'), 'utf8'));
  const [provider] = fixture.ProviderConfig.UseProviders;
  return {
    ...fixture,
    ID: PROFILE_ID,
    IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET, OrganisationSync: { Enabled: true } },
    ProviderConfig: {
      ...fixture.ProviderConfig,
      CallbackBaseURL: brokerUrl,
      FailureRedirect: `${portalUrl}/?fail=true`,
      UseProviders: [
        {
          ...provider,
          Key: CLIENT_ID,
          Secret: CLIENT_SECRET,
          DiscoverURL: idp.discoverUrl,
          SkipUserInfoRequest: SETTINGS.userinfo ? false : provider.SkipUserInfoRequest,
        },
      ],
    },
    ReturnURL: `${portalUrl}/sso`,
  };
}

/** Counters of the broker's Prometheus endpoint, by metric name and labels. */

async function scrapeMetrics(brokerUrl) {
  const res = await request(`${brokerUrl}/metrics`, { readBody: true });
  const out = new Map();
  for (const line of res.body.split('\n')) {
    const m = /^(broker_portal_request_duration_seconds_count|broker_logins_total)\{([^}]*)\}\s+([\d.e+]+)/.exec(line);
    if (m) out.set(`${m[1]}{${m[2]}}`, Number(m[3]));
  }
  return out;
}

/** The broker's V8 heap (used, total) and external memory in MB, from its Node default metrics. */
async function heapMb(brokerUrl) {
  const res = await request(`${brokerUrl}/metrics`, { readBody: true });
  const read = (name) => {
    const m = new RegExp(`^${name}\\s+([\\d.e+]+)`, 'm').exec(res.body);
    return m ? Math.round(Number(m[1]) / 1048576) : null;
  };
  return {
    used: read('nodejs_heap_size_used_bytes'),
    total: read('nodejs_heap_size_total_bytes'),
    external: read('nodejs_external_memory_bytes'),
  };
}

function metricsDelta(before, after, logins) {
  const portal = {};
  for (const [key, value] of after) {
    if (!key.startsWith('broker_portal_request_duration_seconds_count')) continue;
    const d = value - (before.get(key) ?? 0);
    if (d <= 0) continue;
    const endpoint = /endpoint="([^"]*)"/.exec(key)?.[1] ?? '?';
    const status = /status="([^"]*)"/.exec(key)?.[1] ?? '?';
    const k = `${endpoint} ${status}`;
    portal[k] = Math.round(((portal[k] ?? 0) + d / logins) * 100) / 100;
  }
  return portal;
}

/** Statements per login from pg_stat_statements (reset before the phase), broker's database only. */
async function statementsPerLogin(db, logins) {
  const { rows } = await db.query(
    `SELECT calls, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = current_database() AND query NOT ILIKE '%pg_stat_statements%'
      ORDER BY total_exec_time DESC LIMIT 25`,
  );
  return rows.map((r) => ({
    perLogin: Math.round((Number(r.calls) / logins) * 100) / 100,
    msPerCall: Math.round((r.total_exec_time / Math.max(1, Number(r.calls))) * 1000) / 1000,
    msPerLogin: Math.round((r.total_exec_time / logins) * 1000) / 1000,
    query: r.query.length > 160 ? `${r.query.slice(0, 157)}...` : r.query,
  }));
}

async function main() {
  ensureDir(RESULTS);
  for (const entry of [BROKER_ENTRY, PORTAL_ENTRY]) {
    if (!existsSync(entry)) {
      throw new Error(`${path.relative(REPO, entry)} is missing: run npm run build (npm run bench does it)`);
    }
  }
  const began = Date.now();
  const result = {
    startedAt: new Date(began).toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      memGb: Math.round(os.totalmem() / 1e9),
      node: process.version,
      loadAtStart: machine().load,
    },
    commit: gitDescribe(),
    settings: SETTINGS,
  };
  log(
    `broker bench: ${result.machine.cpus} CPUs, load ${result.machine.loadAtStart?.join(' ')}, phases ${SETTINGS.phases.join(', ')}`,
  );

  const pgLog = createWriteStream(path.join(RESULTS, 'postgres.log'));
  const db = await startDatabase({
    fsync: SETTINGS.pgFsync,
    statements: SETTINGS.pgStatements,
    log: (line) => pgLog.write(`${line}\n`),
  });
  cleanups.push(() => db.stop());
  log(`postgres: ${db.external ? 'BENCH_DATABASE_URL' : `embedded (fsync=${SETTINGS.pgFsync ? 'on' : 'off'})`}`);
  const pgc = await connect(db.url);
  cleanups.push(() => pgc.end().catch(() => undefined));
  let pgStats = false;
  if (SETTINGS.pgStatements) {
    pgStats = await pgc.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements').then(
      () => true,
      () => false,
    );
  }

  const brokerPort = await freePort();
  const portalPort = await freePort();
  const brokerUrl = `http://127.0.0.1:${brokerPort}`;
  const portalUrl = `http://127.0.0.1:${portalPort}`;
  const users = benchUsers(SETTINGS.subjects, SETTINGS.organisations);
  const subjects = [...users.keys()];
  const anchorPlan = PHASES.has('anchors') ? await planAnchors() : null;
  const idp = await startFastIdp({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUris: [`${brokerUrl}/auth/${PROFILE_ID}/openid-connect/callback`],
    users,
    clients: anchorPlan?.clients,
  });
  cleanups.push(() => idp.stop());

  const portal = startChild('portal', PORTAL_ENTRY, {
    env: {
      PORTAL_EMULATOR_PORT: String(portalPort),
      PORTAL_API_SECRET: PORTAL_SECRET,
      PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
      NODE_ENV: 'production',
    },
    logFile: path.join(RESULTS, 'portal.log'),
  });
  cleanups.push(() => portal.stop());
  await waitReady(`${portalUrl}/`, portal, performance.now());

  // NODE_ENV=production needs a checkpoint signing key outside the database (issue 14).
  const signingKeyFile = path.join(RESULTS, 'audit-signing-key.pem');
  if (!existsSync(signingKeyFile)) {
    writeFileSync(signingKeyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), {
      mode: 0o600,
    });
  }
  const brokerEnv = {
    NODE_ENV: 'production',
    BROKER_AUDIT_SIGNING_KEY_FILE: signingKeyFile,
    DATABASE_URL: db.url,
    TYK_IB_SECRET: ADMIN_SECRET,
    TYK_IB_SESSION_SECRET: SESSION_SECRET,
    TYK_IB_PORT: String(brokerPort),
    BROKER_HOST: '127.0.0.1',
    BROKER_PUBLIC_URL: brokerUrl,
    BROKER_DATA_DIR: path.join(os.tmpdir(), 'broker-bench-data'),
    TYK_IB_OMITCONFIGFILE: 'true',
    TYK_IB_PROFILES: '',
    TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: 'http://127.0.0.1',
    TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: String(portalPort),
    TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
    TYK_LOGLEVEL: SETTINGS.logLevel,
    // One client IP sends every login: the per-IP login limit would measure itself.
    BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0',
    // The security console (its overview is timed in the audit phase; sign-in is not exercised).
    BROKER_ADMIN_OIDC_ISSUER: 'https://console-idp.bench.invalid',
    BROKER_ADMIN_OIDC_AUDIENCE: 'urn:bench:admin',
    BROKER_CONSOLE_CLIENT_ID: 'bench-console',
    BROKER_CONSOLE_CLIENT_SECRET: 'bench-console-secret-5517',
  };
  const brokerLog = path.join(RESULTS, 'broker.log');
  writeFileSync(brokerLog, '');

  // First start on the empty database (migrations run); the starts below use the existing one.
  let t = performance.now();
  const cold = startChild('broker', BROKER_ENTRY, { env: brokerEnv, execArgv: BROKER_NODE_FLAGS, logFile: brokerLog });
  cleanups.push(() => cold.stop());
  const coldMs = await waitReady(`${brokerUrl}/health/ready`, cold, t, 120_000);
  await cold.stop();
  const profFile = `broker-${new Date(began).toISOString().replace(/[:.]/g, '-')}.cpuprofile`;
  const execArgv = CPU_PROF
    ? [
        '--cpu-prof',
        '--cpu-prof-dir',
        RESULTS,
        '--cpu-prof-name',
        profFile,
        '--cpu-prof-interval',
        String(num('BENCH_CPU_PROF_INTERVAL_US', 1000)),
      ]
    : [];
  // Start-up is noisy on a shared machine: the median of a few starts on the existing database;
  // the last one is the broker benchmarked below.
  const starts = [];
  let broker;
  for (let i = 0; i < Math.max(1, SETTINGS.starts); i++) {
    const last = i === Math.max(1, SETTINGS.starts) - 1;
    t = performance.now();
    const proc = startChild('broker', BROKER_ENTRY, {
      env: brokerEnv,
      // As the product ships (Dockerfile, npm start): scripts/node-flags.mjs.
      execArgv: [
        ...BROKER_NODE_FLAGS,
        ...(last ? execArgv : []),
        ...(last && PERF ? ['--perf-basic-prof-only-functions'] : []),
      ],
      logFile: brokerLog,
    });
    cleanups.push(() => proc.stop());
    starts.push(Math.round(await waitReady(`${brokerUrl}/health/ready`, proc, t, 120_000)));
    if (last) broker = proc;
    else await proc.stop();
  }
  const readyMs = [...starts].sort((a, b) => a - b)[Math.floor(starts.length / 2)];
  const idleMem = memory(broker.pid);
  result.startup = {
    coldReadyMs: Math.round(coldMs),
    readyMs,
    readyRunsMs: starts,
    rssAtReadyMb: Math.round(idleMem.rssMb),
    cpuMsToReady: cpuMs(broker.pid),
  };
  log(
    `broker ready in ${starts.join(', ')} ms (median ${readyMs}; first start, with migrations: ${Math.round(coldMs)} ms)`,
  );

  const created = await fetch(`${brokerUrl}/api/profiles/${PROFILE_ID}`, {
    method: 'POST',
    headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' },
    body: JSON.stringify(benchProfile(brokerUrl, portalUrl, idp)),
  });
  if (created.status !== 201 && created.status !== 200) {
    throw new Error(`could not create the bench profile: ${created.status} ${await created.text()}`);
  }
  const countEvents = async (type) =>
    Number(
      (
        await pgc.query(`SELECT count(*) AS n FROM audit_events WHERE type = $1 AND profile_id = $2`, [
          type,
          PROFILE_ID,
        ])
      ).rows[0].n,
    );
  const baseline = { succeeded: await countEvents('login.succeeded'), failed: await countEvents('login.failed') };

  const driver = createDriver({
    brokerUrl,
    profileId: PROFILE_ID,
    portalUrl,
    idpAuthorize: `${idp.issuer}/oauth2/authorize`,
    sampleEvery: SETTINGS.sampleEvery,
    pids: { broker: broker.pid, portal: portal.pid, postgres: db.pid },
    brokerLogs: broker.logs,
  });
  let seed = 0x2545f491;
  const randomSubject = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return subjects[seed % subjects.length];
  };
  result.phases = [];
  /** @type {[number, number] | null} */
  let profileWindow = null;
  /** @type {[number, number] | null} */
  let exportWindow = null;

  if (PHASES.has('logins')) {
    log(
      `first logins: each of ${subjects.length} developers once (${SETTINGS.organisations} organisations), concurrency 16`,
    );
    result.phases.push(
      await driver.phase({ name: 'first logins', concurrency: 16, count: subjects.length, pick: (i) => subjects[i] }),
    );
    await analyzeAfterFirstLogins(pgc, log);
    for (const c of SETTINGS.levels) {
      await sleep(1500);
      const measureDb = pgStats && c === 32;
      if (measureDb) await pgc.query('SELECT pg_stat_statements_reset()');
      const m0 = c === 32 ? await scrapeMetrics(brokerUrl) : null;
      log(`concurrency ${c}: ${SETTINGS.durationS} s`);
      const perfFile = path.join(RESULTS, 'broker-perf.data');
      const recording = PERF && c === 32 ? startPerfRecord(broker.pid, perfFile) : null;
      if (PERF && c === 32 && !recording) log('BENCH_PERF: perf is not installed (Debian: apt-get install linux-perf)');
      const p = await driver.phase({
        name: `c=${c}`,
        concurrency: c,
        durationMs: SETTINGS.durationS * 1000,
        pick: randomSubject,
      });
      if (recording) {
        await recording.stop();
        result.perf = { file: path.relative(REPO, perfFile), ...(await summarisePerf(perfFile)) };
      }
      if (m0) p.portalCallsPerLogin = metricsDelta(m0, await scrapeMetrics(brokerUrl), p.logins);
      if (measureDb) p.sqlPerLogin = await statementsPerLogin(pgc, p.logins);
      result.phases.push(p);
      profileWindow = [profileWindow?.[0] ?? p.windowUs[0], p.windowUs[1]];
      log(
        `  ${p.loginsPerS} logins/s, callback p99 ${p.callbackMs.p99} ms, errors ${p.errors}, broker ${p.cpuMsPerLogin.broker} ms CPU/login`,
      );
    }
  }

  // ---- Anchors (issue 19): bench/anchors/run-anchors.mjs ----
  if (anchorPlan) {
    log(
      `anchors: product, express, floor; ${SETTINGS.anchorRounds} rounds of ${SETTINGS.anchorDurationS} s at concurrency ${SETTINGS.anchorLevels.join(', ')}`,
    );
    result.anchors = await runAnchors({
      plan: anchorPlan,
      settings: {
        levels: SETTINGS.anchorLevels,
        rounds: SETTINGS.anchorRounds,
        durationS: SETTINGS.anchorDurationS,
        sampleEvery: SETTINGS.sampleEvery,
        warmupProduct: !PHASES.has('logins'),
      },
      databaseUrl: db.url,
      postgresPid: db.pid,
      portal: { url: portalUrl, pid: portal.pid, secret: PORTAL_SECRET },
      idp,
      productDriver: driver,
      subjects,
      randomSubject,
      pgc,
      resultsDir: RESULTS,
      log,
      cleanups,
    });
  }
  // ---- end anchors ----

  if (PHASES.has('long')) {
    const half = Math.round(SETTINGS.longLogins / 2);
    const mem = [];
    const heaps = [];
    for (const name of ['long: 1st half', 'long: 2nd half']) {
      log(`${name}: ${half} logins at concurrency ${SETTINGS.longConcurrency}`);
      const p = await driver.phase({
        name,
        concurrency: SETTINGS.longConcurrency,
        count: half,
        pick: randomSubject,
        onProgress: (n) => n % 5000 === 0 && log(`  ${n} logins`),
      });
      result.phases.push(p);
      mem.push(memory(broker.pid).rssMb);
      const heap = await heapMb(brokerUrl);
      heaps.push(heap);
      log(
        `  ${p.loginsPerS} logins/s, RSS ${Math.round(mem.at(-1))} MB (V8 heap used ${heap.used} of ${heap.total} MB, external ${heap.external} MB)`,
      );
    }
    const [{ n: states }] = (await pgc.query('SELECT count(*)::int AS n FROM login_states')).rows;
    log(`  login_states rows left: ${states}`);
    result.memory = {
      logins: half * 2,
      rssAfterFirstHalfMb: Math.round(mem[0]),
      rssAfterSecondHalfMb: Math.round(mem[1]),
      growthMb: Math.round(mem[1] - mem[0]),
      peakRssMb: Math.round(memory(broker.pid).peakMb),
      heapMb: heaps,
      loginStatesLeft: states,
    };
  }

  if (PHASES.has('logins') || PHASES.has('long') || PHASES.has('anchors')) {
    // Let the sealer (1 s interval) chain the last events, then check the whole login story.
    await sleep(2500);
    const verify = await timeVerify(brokerUrl, ADMIN_SECRET);
    const succeeded = (await countEvents('login.succeeded')) - baseline.succeeded;
    const failed = (await countEvents('login.failed')) - baseline.failed;
    result.correctness = {
      successfulLogins: driver.totals.ok,
      failedLogins: driver.totals.failed,
      loginSucceededEvents: succeeded,
      loginFailedEvents: failed,
      eventsMatchLogins: succeeded === driver.totals.ok && failed === driver.totals.failed,
      portalNoncesChecked: driver.totals.portalChecked,
      portalNoncesAccepted: driver.totals.portalAccepted,
      auditVerify: { status: verify.status, count: verify.count, unsealed: verify.unsealed, seconds: verify.seconds },
      idp: (({ discovery, jwks, authorize, token, userinfo, refused }) => ({
        discovery,
        jwks,
        authorize,
        token,
        userinfo,
        refused,
      }))(idp.calls),
      organisationLinks: (
        await pgc.query(
          `SELECT count(*)::int AS links, count(*) FILTER (WHERE portal_team_id IS NULL)::int AS without_team FROM portal_org_links`,
        )
      ).rows[0],
    };
    log(`correctness: ${succeeded}/${driver.totals.ok} login.succeeded events, audit chain ${verify.status}`);
  }

  // After the correctness check: these requests add login.failed events of their own.
  if (PHASES.has('worst')) {
    log(`worst-case input: ${SETTINGS.worstS} s on every route, concurrency 4, /health polled`);
    result.worstCase = await worstCasePhase({
      brokerUrl,
      adminSecret: ADMIN_SECRET,
      profile: benchProfile(brokerUrl, portalUrl, idp),
      durationMs: SETTINGS.worstS * 1000,
    });
    const w = result.worstCase;
    log(`  event-loop delay max ${w.eventLoopDelay.maxMs} ms, /health max ${w.health.maxMs} ms`);
  }

  if (PHASES.has('audit')) {
    const n = SETTINGS.auditEvents;
    // The logins' events must be sealed first: the seeding continues the chain from its head.
    const before = await waitSealed(pgc, 0, 60_000, log);
    if (!before.complete) throw new Error('the broker did not seal the login events within 60 s');
    log(`audit: seeding and sealing ${n.toLocaleString('en')} events`);
    const seeded = await seedAudit(pgc, n, log);
    log(`  done in ${seeded.seconds.toFixed(1)} s`);
    const tv = performance.now();
    await pgc.query('VACUUM ANALYZE audit_events');
    await pgc.query('ANALYZE developers');
    const vacuumS = (performance.now() - tv) / 1000;
    const sealer = await timeBrokerSealer(pgc, SETTINGS.sealerEvents, SETTINGS.sealTimeoutS * 1000, log);
    log(`  the broker's sealer: ${sealer.rows} events in ${sealer.seconds.toFixed(1)} s (${sealer.rate} events/s)`);
    log('  console overview (GET /console)');
    const consoleOverview = await timeConsoleOverview(pgc, brokerUrl, SETTINGS.auditRuns);
    log(`  first view ${consoleOverview.firstMs} ms, then p95 ${consoleOverview.p95} ms`);
    log(`  queries: ${SETTINGS.auditRuns} runs each`);
    const queries = await timeQueries(brokerUrl, ADMIN_SECRET, {
      runs: SETTINGS.auditRuns,
      firstId: seeded.firstId,
      lastId: seeded.lastId,
      sessionSecret: SESSION_SECRET,
    });
    log('  export (ndjson, every event)');
    const exportFrom = Number(process.hrtime.bigint() / 1000n);
    const exported = await timeExport(brokerUrl, ADMIN_SECRET);
    exportWindow = [exportFrom, Number(process.hrtime.bigint() / 1000n)];
    log(`  ${exported.rows} rows in ${exported.seconds} s; verifying the chain`);
    const verify = sealer.complete ? await timeVerify(brokerUrl, ADMIN_SECRET) : null;
    // After the full verify (recorded as audit.verified): what a routine verify costs at this size.
    const routine = verify ? await timeVerify(brokerUrl, ADMIN_SECRET, 'routine') : null;
    const [{ total }] = (await pgc.query('SELECT count(*)::int AS total FROM audit_events')).rows;
    const [{ size }] = (await pgc.query(`SELECT pg_size_pretty(pg_total_relation_size('audit_events')) AS size`)).rows;
    const r1 = (x) => Math.round(x * 10) / 10;
    result.audit = {
      events: total,
      tableSize: size,
      seed: {
        rows: seeded.rows,
        seconds: r1(seeded.seconds),
        insertSeconds: r1(seeded.insertSeconds),
        sealSeconds: r1(seeded.sealSeconds),
        indexSeconds: r1(seeded.indexSeconds),
      },
      brokerSealer: {
        rows: sealer.rows,
        seconds: r1(sealer.seconds),
        ratePerS: sealer.rate,
        complete: sealer.complete,
      },
      vacuumAnalyzeSeconds: r1(vacuumS),
      queries,
      consoleOverview,
      export: exported,
      verify: verify
        ? {
            status: verify.status,
            count: verify.count,
            seconds: verify.seconds,
            eventsPerS: Math.round(verify.count / verify.seconds),
            checkpoints: verify.checkpoints,
            routine: routine
              ? { status: routine.status, count: routine.count, seconds: routine.seconds, sampled: routine.sampled }
              : null,
          }
        : { skipped: `the broker's sealer did not finish within ${SETTINGS.sealTimeoutS} s` },
    };
  }

  result.brokerLog = { bytes: broker.logs.bytes, lines: broker.logs.lines, file: path.relative(REPO, brokerLog) };
  await broker.stop(30_000);
  // --- BENCH_WORKERS (issue 19): the broker as 1, 2, … cluster workers, one after the other.
  if (WORKER_COUNTS.length > 0) {
    result.workers = await workersPhase({
      counts: WORKER_COUNTS,
      concurrency: num('BENCH_WORKERS_CONCURRENCY', 32),
      durationMs: SETTINGS.durationS * 1000,
      brokerEntry: BROKER_ENTRY,
      brokerEnv,
      brokerUrl,
      logFile: brokerLog,
      driverContext: {
        brokerUrl,
        profileId: PROFILE_ID,
        portalUrl,
        idpAuthorize: `${idp.issuer}/oauth2/authorize`,
        sampleEvery: SETTINGS.sampleEvery,
        pids: { portal: portal.pid, postgres: db.pid },
      },
      pick: randomSubject,
      log,
      track: (proc) => cleanups.push(() => proc.stop()),
    });
  }
  // --- end BENCH_WORKERS
  if (CPU_PROF) {
    const file = path.join(RESULTS, profFile);
    if (existsSync(file)) {
      result.cpuProfile = { file: path.relative(REPO, file) };
      for (const [name, window] of /** @type {Array<[string, [number, number] | null]>} */ ([
        ['logins', profileWindow],
        ['export', exportWindow],
      ])) {
        if (window) result.cpuProfile[name] = summariseProfile(file, { top: 30, fromUs: window[0], toUs: window[1] });
      }
      if (!profileWindow && !exportWindow) result.cpuProfile.whole = summariseProfile(file, { top: 30 });
    } else {
      result.cpuProfile = { missing: file };
    }
  }
  result.durationS = Math.round((Date.now() - began) / 1000);
  result.machine.loadAtEnd = machine().load;
  result.targets = checkTargets(result);
  writeFileSync(path.join(RESULTS, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${formatReport(result)}\n`);
  if (result.anchors) process.stdout.write(`${formatAnchors(result.anchors)}\n`);
  if (result.workers) process.stdout.write(`${formatWorkers(result.workers)}\n`);
  for (const name of ['logins', 'export', 'whole']) {
    const summary = result.cpuProfile?.[name];
    if (summary) process.stdout.write(`\nBroker CPU profile, ${name} phase:\n${formatSummary(summary)}\n`);
  }
  if (result.perf) process.stdout.write(`\nBroker CPU at c=32 (perf):\n${formatPerf(result.perf)}\n`);
  process.stdout.write(`\nwritten: bench/results/latest.json (run took ${result.durationS} s)\n`);
}

async function cleanup() {
  for (const fn of cleanups.reverse()) {
    try {
      await fn();
    } catch {
      // best effort
    }
  }
}

let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: stopping the stack');
  void cleanup().finally(() => process.exit(130));
});

main()
  .then(cleanup)
  .catch(async (e) => {
    log(`bench failed: ${e?.stack ?? e}`);
    await cleanup();
    process.exit(1);
  });
