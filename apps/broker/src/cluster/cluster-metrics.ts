import cluster from 'node:cluster';
import { isBrokerWorker } from './role.js';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

/**
 * `/metrics` under BROKER_WORKERS > 1: whichever worker a scrape reaches asks the primary, the
 * primary collects every worker's registry as JSON and merges them with prom-client's
 * AggregatorRegistry (counters and histograms summed; see prom-client's per-metric aggregators),
 * and the worker answers with the whole cluster's metrics. One process: its own registry.
 */

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** worker → primary: a scrape wants the cluster's metrics. */
interface ScrapeRequest {
  type: 'broker:metrics:scrape';
  id: number;
}
/** primary → worker: the answer to a ScrapeRequest. */
interface ScrapeAnswer {
  type: 'broker:metrics:scraped';
  id: number;
  text: string;
}
/** primary → every worker: send your registry. */
interface CollectRequest {
  type: 'broker:metrics:collect';
  id: number;
}
/** worker → primary: one worker's registry. */
interface CollectAnswer {
  type: 'broker:metrics:collected';
  id: number;
  metrics: MetricsJson;
}

const is = <T extends { type: string }>(msg: unknown, type: T['type']): msg is T =>
  typeof msg === 'object' && msg !== null && (msg as { type?: unknown }).type === type;

/** How long the primary waits for the workers' registries (a hung worker must not stall scrapes). */
export const COLLECT_TIMEOUT_MS = 3000;

let nextScrape = 0;
/** Scrapes waiting for the primary's answer, by id (one message listener for all of them). */
const scrapes = new Map<number, (text: string) => void>();
let answersHeard = false;

/** The metrics text for a scrape: the cluster's in a worker, this registry's otherwise. */
export async function scrapeMetrics(registry: Registry): Promise<string> {
  if (!isBrokerWorker() || !process.send) return registry.metrics();
  if (!answersHeard) {
    answersHeard = true;
    process.on('message', (msg: unknown) => {
      if (is<ScrapeAnswer>(msg, 'broker:metrics:scraped')) scrapes.get(msg.id)?.(msg.text);
    });
  }
  const id = nextScrape++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      scrapes.delete(id);
      reject(new Error('the cluster primary did not answer the metrics scrape'));
    }, COLLECT_TIMEOUT_MS * 2);
    scrapes.set(id, (text) => {
      clearTimeout(timer);
      scrapes.delete(id);
      resolve(text);
    });
    process.send?.({ type: 'broker:metrics:scrape', id } satisfies ScrapeRequest);
  });
}

/** In a worker: answer the primary's collect requests with this registry. Returns the remover. */
export function shareMetrics(registry: Registry): () => void {
  if (!isBrokerWorker()) return () => undefined;
  const onMessage = (msg: unknown) => {
    if (!is<CollectRequest>(msg, 'broker:metrics:collect')) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: 'broker:metrics:collected', id: msg.id, metrics } satisfies CollectAnswer),
      () => process.send?.({ type: 'broker:metrics:collected', id: msg.id, metrics: [] } satisfies CollectAnswer),
    );
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}

/**
 * In the primary: answer the workers' scrape requests with the merged metrics of every worker,
 * plus the primary's own `registry` (the cluster gauges).
 */
export function serveClusterMetrics(registry: Registry): void {
  let nextCollect = 0;
  const pending = new Map<number, { parts: MetricsJson[]; waiting: number; done: () => void }>();
  let inflight: Promise<string> | null = null;
  const collect = () =>
    new Promise<string>((resolve) => {
      const id = nextCollect++;
      const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
      const entry = {
        parts: [] as MetricsJson[],
        waiting: workers.length,
        done: () => {
          clearTimeout(timer);
          pending.delete(id);
          registry
            .getMetricsAsJSON()
            .then((own) => AggregatorRegistry.aggregate([...entry.parts, own]).metrics())
            .then(resolve, () => resolve(''));
        },
      };
      // After the timeout, whatever arrived: one hung worker must not stop the scrape.
      const timer = setTimeout(() => entry.done(), COLLECT_TIMEOUT_MS);
      pending.set(id, entry);
      for (const w of workers) w?.send({ type: 'broker:metrics:collect', id } satisfies CollectRequest);
      if (workers.length === 0) entry.done();
    });
  cluster.on('message', (worker, msg: unknown) => {
    if (is<CollectAnswer>(msg, 'broker:metrics:collected')) {
      const entry = pending.get(msg.id);
      if (!entry) return;
      entry.parts.push(msg.metrics);
      if (--entry.waiting === 0) entry.done();
    } else if (is<ScrapeRequest>(msg, 'broker:metrics:scrape')) {
      // Scrapes that arrive while a collection runs share it: parallel scrapes (no token by
      // default) must not multiply the workers' serialising and the merge.
      inflight ??= collect().finally(() => (inflight = null));
      inflight.then(
        (text) => {
          if (worker.isConnected()) {
            worker.send({ type: 'broker:metrics:scraped', id: msg.id, text } satisfies ScrapeAnswer);
          }
        },
        () => undefined,
      );
    }
  });
}
