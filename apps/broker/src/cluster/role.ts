import cluster from 'node:cluster';

/** Set by the broker's cluster primary on every worker it forks (BROKER_WORKERS > 1). */
export const WORKER_ENV = 'BROKER_CLUSTER_WORKER';

/**
 * True in a worker forked by the broker's own primary. Not merely `cluster.isWorker`: under a
 * process manager's cluster mode (pm2) every broker is a cluster worker of a primary that is not
 * ours, migrates for itself and answers none of our messages.
 */
export function isBrokerWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

/** cluster.worker.id in a worker of ours (1, 2, …; a replacement gets the next), else undefined. */
export function brokerWorkerId(): number | undefined {
  return isBrokerWorker() ? cluster.worker?.id : undefined;
}
