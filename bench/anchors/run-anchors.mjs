// The anchors phase of `npm run bench` (issue 19): the product beside two systems written for the
// bench, in interleaved rounds, same driver, same IdP, Postgres and portal emulator.
//   floor.mjs   — bare node:http doing exactly the broker's per-login I/O;
//   express.mjs — a hand-written Express 5 + express-session + passport-openidconnect broker.
// For each concurrency level, for each round, each system for the same time, the order rotating
// by round (product, express, floor; express, floor, product; …).
// Each system's rounds are summed (logins, elapsed time, CPU of its process, callback latencies),
// then the product's ratios to each and the issue's targets at c=32 are computed.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDriver, latencyStats } from '../logins.mjs';
import { REPO, analyzeAfterFirstLogins, freePort, sleep, startChild, waitReady } from '../stack.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SYSTEMS = /** @type {const} */ (['product', 'express', 'floor']);
/** The issue's targets, at this concurrency. */
const TARGET_CONCURRENCY = 32;
const TARGETS = { throughputVsExpressMin: 1.2, cpuVsFloorMax: 1.5, p99VsExpressMax: 1 };

const r1 = (x) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const r2 = (x) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);

/**
 * Ports, OIDC clients and URLs of the two anchors; call before the IdP starts (it needs their
 * clients and redirect URIs). The Express anchor's client is registered without PKCE.
 */
export async function planAnchors() {
  const plan = {};
  for (const name of ['floor', 'express']) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    plan[name] = {
      name,
      port,
      url,
      clientId: `bench-anchor-${name}`,
      clientSecret: randomBytes(18).toString('base64url'),
      cookieName: name === 'floor' ? 'floor_login' : 'connect.sid',
      entry: path.join(HERE, `${name}.mjs`),
    };
  }
  const clients = Object.values(plan).map((a) => ({
    clientId: a.clientId,
    clientSecret: a.clientSecret,
    redirectUris: [`${a.url}/callback`],
    pkce: a.name === 'floor',
  }));
  return { floor: plan.floor, express: plan.express, clients };
}

/** Sums one system's rounds at one level. */
function summarise(rounds) {
  const ok = rounds.reduce((n, p) => n + p.ok, 0);
  const logins = rounds.reduce((n, p) => n + p.logins, 0);
  const elapsedMs = rounds.reduce((n, p) => n + p.samples.elapsedMs, 0);
  const cpu = (k) => {
    if (rounds.some((p) => p.samples.cpuMs[k] === null)) return null;
    return r2(rounds.reduce((n, p) => n + p.samples.cpuMs[k], 0) / Math.max(1, logins));
  };
  const errors = rounds.reduce((n, p) => n + p.errors, 0);
  const errorCodes = {};
  for (const p of rounds) {
    for (const [code, n] of Object.entries(p.errorCodes)) errorCodes[code] = (errorCodes[code] ?? 0) + n;
  }
  return {
    rounds: rounds.length,
    logins,
    ok,
    errors,
    errorCodes,
    loginsPerS: r1(ok / (elapsedMs / 1000)),
    cpuMsPerLogin: cpu('broker'),
    otherCpuMsPerLogin: { postgres: cpu('postgres'), portal: cpu('portal'), driverAndIdp: cpu('driver') },
    // Every process of the stand: on this machine both cores are busy, so this decides logins/s.
    machineCpuMsPerLogin: sumOrNull([cpu('broker'), cpu('postgres'), cpu('portal'), cpu('driver')]),
    callbackMs: latencyStats(rounds.flatMap((p) => p.samples.callbackMs)),
    startMs: latencyStats(rounds.flatMap((p) => p.samples.startMs)),
    roundsLoginsPerS: rounds.map((p) => p.loginsPerS),
    portalNoncesChecked: rounds.reduce((n, p) => n + p.portalNoncesChecked, 0),
    portalNoncesAccepted: rounds.reduce((n, p) => n + p.portalNoncesAccepted, 0),
    otherBusyPct: r1(rounds.reduce((n, p) => n + (p.otherBusyPct ?? 0), 0) / rounds.length),
  };
}

function sumOrNull(values) {
  return values.some((v) => v === null) ? null : r2(values.reduce((a, b) => a + b, 0));
}

function ratios(s) {
  const div = (a, b) => (a === null || b === null || !b ? null : r2(a / b));
  return {
    // The hand-written Express broker's own distance from the floor: what a framework costs.
    expressCpuVsFloor: div(s.express.cpuMsPerLogin, s.floor.cpuMsPerLogin),
    throughputVsExpress: div(s.product.loginsPerS, s.express.loginsPerS),
    throughputVsFloor: div(s.product.loginsPerS, s.floor.loginsPerS),
    cpuVsFloor: div(s.product.cpuMsPerLogin, s.floor.cpuMsPerLogin),
    cpuVsExpress: div(s.product.cpuMsPerLogin, s.express.cpuMsPerLogin),
    p99VsExpress: div(s.product.callbackMs.p99, s.express.callbackMs.p99),
  };
}

/**
 * Runs the phase. `ctx`: { plan (from planAnchors), settings: { levels, rounds, durationS,
 * sampleEvery, warmup }, databaseUrl, postgresPid, portal: { url, pid, secret }, idp,
 * productDriver, subjects, randomSubject, pgc, resultsDir, log, cleanups }.
 */
export async function runAnchors(ctx) {
  const { plan, settings, log } = ctx;
  const anchors = {};
  for (const a of [plan.floor, plan.express]) {
    const proc = startChild(`anchor-${a.name}`, a.entry, {
      env: {
        NODE_ENV: 'production',
        ANCHOR_PORT: String(a.port),
        ANCHOR_PUBLIC_URL: a.url,
        ANCHOR_DATABASE_URL: ctx.databaseUrl,
        ANCHOR_POOL_SIZE: process.env.DATABASE_POOL_SIZE ?? '10',
        ANCHOR_ISSUER: ctx.idp.issuer,
        ANCHOR_CLIENT_ID: a.clientId,
        ANCHOR_CLIENT_SECRET: a.clientSecret,
        ANCHOR_PORTAL_URL: ctx.portal.url,
        ANCHOR_PORTAL_SECRET: ctx.portal.secret,
      },
      logFile: path.join(ctx.resultsDir, `anchor-${a.name}.log`),
    });
    ctx.cleanups.push(() => proc.stop());
    await waitReady(`${a.url}/health`, proc, performance.now());
    anchors[a.name] = {
      proc,
      driver: createDriver({
        startUrl: `${a.url}/start`,
        callbackPrefix: `${a.url}/callback?`,
        cookieName: a.cookieName,
        // Both anchors redirect to the IdP with 302 (passport's, and floor.mjs's own).
        startStatus: 302,
        portalUrl: ctx.portal.url,
        idpAuthorize: `${ctx.idp.issuer}/oauth2/authorize`,
        sampleEvery: settings.sampleEvery,
        pids: { broker: proc.pid, portal: ctx.portal.pid, postgres: ctx.postgresPid },
        brokerLogs: proc.logs,
      }),
    };
  }
  const drivers = { product: ctx.productDriver, express: anchors.express.driver, floor: anchors.floor.driver };

  // Every system logs each developer in once first: developer rows exist, JIT and pools are warm.
  const warmup = {};
  for (const name of SYSTEMS) {
    if (name === 'product' && !settings.warmupProduct) continue;
    log(`anchors: first logins of ${name} (${ctx.subjects.length} developers, concurrency 16)`);
    const p = await drivers[name].phase({
      name: `anchors ${name} first logins`,
      concurrency: 16,
      count: ctx.subjects.length,
      pick: (i) => ctx.subjects[i],
    });
    warmup[name] = { ok: p.ok, errors: p.errors, errorCodes: p.errorCodes, loginsPerS: p.loginsPerS };
  }
  // The three systems' tables with statistics, as on a running database (analyzeAfterFirstLogins).
  await analyzeAfterFirstLogins(ctx.pgc, log);

  const levels = [];
  for (const c of settings.levels) {
    const rounds = { product: [], express: [], floor: [] };
    for (let r = 1; r <= settings.rounds; r++) {
      // Round r starts with the next system (product, express, floor; then express, floor, product; …),
      // so no system always runs first after a pause or last after the others warmed the machine.
      const order = SYSTEMS.map((_, i) => SYSTEMS[(i + r - 1) % SYSTEMS.length]);
      for (const name of order) {
        await sleep(500);
        const p = await drivers[name].phase({
          name: `anchors ${name} c=${c} round ${r}`,
          concurrency: c,
          durationMs: settings.durationS * 1000,
          pick: ctx.randomSubject,
          keepSamples: true,
        });
        rounds[name].push(p);
        log(
          `  c=${c} round ${r} ${name.padEnd(7)} ${p.loginsPerS} logins/s, ${p.cpuMsPerLogin.broker} ms CPU/login, callback p99 ${p.callbackMs.p99} ms, errors ${p.errors}`,
        );
      }
    }
    const systems = Object.fromEntries(SYSTEMS.map((name) => [name, summarise(rounds[name])]));
    levels.push({ concurrency: c, systems, ratios: ratios(systems) });
  }

  // Correctness of the anchors: every successful login wrote its audit row, no state is left
  // over, and the sampled nonces were redeemed at the portal (counted by the driver).
  const count = async (sql) => Number((await ctx.pgc.query(sql)).rows[0].n);
  const correctness = {};
  for (const name of /** @type {const} */ (['express', 'floor'])) {
    const totals = drivers[name].totals;
    const audited = await count(`SELECT count(*)::int AS n FROM anchor_${name}_audit`);
    correctness[name] = {
      successfulLogins: totals.ok,
      failedLogins: totals.failed,
      auditRows: audited,
      auditMatchesLogins: audited === totals.ok,
      portalNoncesChecked: totals.portalChecked,
      portalNoncesAccepted: totals.portalAccepted,
      ...(name === 'floor' ? { statesLeft: await count('SELECT count(*)::int AS n FROM anchor_floor_states') } : {}),
    };
  }
  for (const a of Object.values(anchors)) await a.proc.stop();

  const at = levels.find((l) => l.concurrency === TARGET_CONCURRENCY);
  const clean = levels.every((l) => SYSTEMS.every((n) => l.systems[n].errors === 0));
  const check = (value, ok) => (value === null ? 'n/a' : ok ? 'PASS' : 'FAIL');
  const targets = at
    ? {
        concurrency: TARGET_CONCURRENCY,
        comparable: clean,
        throughputVsExpress: {
          value: at.ratios.throughputVsExpress,
          target: `>= ${TARGETS.throughputVsExpressMin}`,
          result: check(at.ratios.throughputVsExpress, at.ratios.throughputVsExpress >= TARGETS.throughputVsExpressMin),
        },
        cpuVsFloor: {
          value: at.ratios.cpuVsFloor,
          target: `<= ${TARGETS.cpuVsFloorMax}`,
          result: check(at.ratios.cpuVsFloor, at.ratios.cpuVsFloor <= TARGETS.cpuVsFloorMax),
        },
        p99VsExpress: {
          value: at.ratios.p99VsExpress,
          target: `<= ${TARGETS.p99VsExpressMax}`,
          result: check(at.ratios.p99VsExpress, at.ratios.p99VsExpress <= TARGETS.p99VsExpressMax),
        },
      }
    : null;
  return {
    settings: { levels: settings.levels, rounds: settings.rounds, durationS: settings.durationS },
    order: SYSTEMS,
    warmup,
    levels,
    targets,
    correctness,
    logs: Object.fromEntries(
      Object.keys(anchors).map((n) => [n, path.relative(REPO, path.join(ctx.resultsDir, `anchor-${n}.log`))]),
    ),
  };
}

/** The printed table of the phase. */
export function formatAnchors(a) {
  const lines = [
    '',
    `Anchors (issue 19): ${a.settings.rounds} interleaved rounds of ${a.settings.durationS} s per system and level, summed`,
    'c     system   ok/s   CPU ms/login  start p99  callback p50/p99  err',
  ];
  for (const l of a.levels) {
    for (const name of a.order) {
      const s = l.systems[name];
      lines.push(
        `${String(l.concurrency).padEnd(5)} ${name.padEnd(8)} ${String(s.loginsPerS).padStart(6)} ${String(s.cpuMsPerLogin).padStart(13)}  ${String(s.startMs.p99).padStart(9)}  ${`${s.callbackMs.p50} / ${s.callbackMs.p99}`.padStart(16)}  ${s.errors}`,
      );
    }
    const x = l.ratios;
    lines.push(
      `      product: ${x.throughputVsExpress}× express logins/s (${x.throughputVsFloor}× floor), CPU ${x.cpuVsFloor}× floor (${x.cpuVsExpress}× express), callback p99 ${x.p99VsExpress}× express`,
      `      express CPU ${x.expressCpuVsFloor}× floor; machine CPU ms/login (broker + postgres + portal + driver/IdP): ` +
        a.order.map((n) => `${n} ${l.systems[n].machineCpuMsPerLogin}`).join(', '),
    );
  }
  const t = a.targets;
  if (t) {
    lines.push(
      `targets at c=${t.concurrency}: logins/s vs express ${t.throughputVsExpress.value} (${t.throughputVsExpress.target}) ${t.throughputVsExpress.result}; ` +
        `CPU vs floor ${t.cpuVsFloor.value} (${t.cpuVsFloor.target}) ${t.cpuVsFloor.result}; ` +
        `callback p99 vs express ${t.p99VsExpress.value} (${t.p99VsExpress.target}) ${t.p99VsExpress.result}` +
        (t.comparable ? '' : ' — NOT COMPARABLE: a system had errors'),
    );
  }
  for (const [name, c] of Object.entries(a.correctness)) {
    lines.push(
      `${name}: ${c.successfulLogins} logins ok, ${c.failedLogins} failed, audit rows ${c.auditRows} (${c.auditMatchesLogins ? 'match' : 'MISMATCH'}), nonces redeemed ${c.portalNoncesAccepted}/${c.portalNoncesChecked}${c.statesLeft === undefined ? '' : `, states left ${c.statesLeft}`}`,
    );
  }
  return lines.join('\n');
}
