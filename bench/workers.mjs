// BENCH_WORKERS=1,2 (issue 19): the same login level (c=32 by default) against the broker started
// with BROKER_WORKERS=N for each N, one after the other on the same database, IdP stand-in and
// portal emulator. Broker CPU is the whole process tree (the cluster primary and its workers).
import { BROKER_NODE_FLAGS } from '../scripts/node-flags.mjs';
import os from 'node:os';
import { createDriver } from './logins.mjs';
import { treeCpuMs } from './procstat.mjs';
import { sleep, startChild, waitReady } from './stack.mjs';

/** `BENCH_WORKERS`: a comma list of worker counts ('' = the phase is off). */
export function workerCounts(value) {
  if (!value) return [];
  const counts = value.split(',').map((s) => Number(s.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) {
    throw new Error(`BENCH_WORKERS: expected a comma list of whole numbers from 1 to 64, got ${JSON.stringify(value)}`);
  }
  return counts;
}

/** Polls the broker's /metrics until the cluster primary reports `n` listening workers. */
async function waitWorkers(brokerUrl, n, proc, timeoutMs = 120_000) {
  const since = performance.now();
  for (;;) {
    const text = await fetch(`${brokerUrl}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    if (text.includes(`broker_cluster_workers{state="listening"} ${n}\n`)) return;
    if (proc.child.exitCode !== null) throw new Error(`the broker exited:\n${proc.logs.tail.join('\n')}`);
    if (performance.now() - since > timeoutMs) {
      throw new Error(`${n} workers were not listening after ${timeoutMs} ms:\n${proc.logs.tail.join('\n')}`);
    }
    await sleep(200);
  }
}

/**
 * For each worker count: start the broker, a warm-up, then `durationMs` at `concurrency`; stop it.
 * `driverContext`: what createDriver needs besides the broker's pid and logs.
 */
export async function workersPhase({
  counts,
  concurrency,
  durationMs,
  brokerEntry,
  brokerEnv,
  brokerUrl,
  logFile,
  driverContext,
  pick,
  log,
  track,
}) {
  const runs = [];
  for (const n of counts) {
    const env = { ...brokerEnv, BROKER_WORKERS: String(n) };
    const t = performance.now();
    const proc = startChild(`broker (${n} workers)`, brokerEntry, { env, execArgv: BROKER_NODE_FLAGS, logFile });
    track(proc);
    const loadAvg = os.loadavg()[0];
    try {
      await waitReady(`${brokerUrl}/health/ready`, proc, t, 120_000);
      if (n > 1) await waitWorkers(brokerUrl, n, proc);
      const driver = createDriver({
        ...driverContext,
        pids: { ...driverContext.pids, broker: proc.pid },
        brokerLogs: proc.logs,
      });
      log(`workers ${n}: warm-up 3 s, then concurrency ${concurrency} for ${durationMs / 1000} s`);
      await driver.phase({ name: `warm-up ${n}`, concurrency, durationMs: 3000, pick });
      const cpu0 = treeCpuMs(proc.pid);
      const p = await driver.phase({ name: `workers=${n} c=${concurrency}`, concurrency, durationMs, pick });
      const cpu = (treeCpuMs(proc.pid) ?? 0) - (cpu0 ?? 0);
      const run = {
        workers: n,
        concurrency,
        loginsPerS: p.loginsPerS,
        callbackP99Ms: p.callbackMs.p99,
        errors: p.errors,
        brokerCpuMsPerLogin: p.logins > 0 ? Math.round((cpu / p.logins) * 100) / 100 : null,
        postgresCpuMsPerLogin: p.cpuMsPerLogin.postgres,
        // What else ran: the 1-minute load average before the start, and both cores' busy share.
        loadAvgAtStart: Math.round(loadAvg * 100) / 100,
        machineBusyPct: p.machineBusyPct,
      };
      runs.push(run);
      log(
        `  ${run.loginsPerS} logins/s, callback p99 ${run.callbackP99Ms} ms, errors ${run.errors}, broker ${run.brokerCpuMsPerLogin} ms CPU/login (primary + workers)`,
      );
    } finally {
      const exit = await proc.stop(30_000);
      if (n > 1 && exit.code !== 0) {
        log(`  the broker with ${n} workers exited with ${JSON.stringify(exit)} on SIGTERM`);
      }
    }
  }
  return runs;
}

/** The BENCH_WORKERS table, with each run's logins/s relative to the first. */
export function formatWorkers(runs) {
  const base = runs[0]?.loginsPerS ?? 0;
  const lines = [
    '',
    'BROKER_WORKERS (BENCH_WORKERS):',
    'workers  concurrency  logins/s  vs first  callback p99  broker CPU/login  errors  load at start',
  ];
  for (const r of runs) {
    const ratio = base > 0 ? `${(r.loginsPerS / base).toFixed(2)}×` : '–';
    lines.push(
      `${String(r.workers).padStart(7)}  ${String(r.concurrency).padStart(11)}  ${String(r.loginsPerS).padStart(8)}  ${ratio.padStart(8)}  ${`${r.callbackP99Ms} ms`.padStart(12)}  ${`${r.brokerCpuMsPerLogin} ms`.padStart(16)}  ${String(r.errors).padStart(6)}  ${String(r.loadAvgAtStart).padStart(13)}`,
    );
  }
  return lines.join('\n');
}
