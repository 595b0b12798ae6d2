import cluster from 'node:cluster';

/** Set by the broker's cluster primary on every worker it forks (BROKER_WORKERS > 1). */
export const WORKER_ENV = 'BROKER_CLUSTER_WORKER';

let ours = false;

/**
 * Called once by the entry (main.ts, which reads the environment) in a worker forked by the
 * broker's own primary. Not merely `cluster.isWorker`: under a process manager's cluster mode
 * (pm2) every broker is a cluster worker of a primary that is not ours, migrates for itself and
 * answers none of our messages.
 */
export function becomeBrokerWorker(): void {
  ours = cluster.isWorker;
}

/** True in a worker forked by the broker's own primary. */
export function isBrokerWorker(): boolean {
  return ours;
}

/** cluster.worker.id in a worker of ours (1, 2, …; a replacement gets the next), else undefined. */
export function brokerWorkerId(): number | undefined {
  return ours ? cluster.worker?.id : undefined;
}
