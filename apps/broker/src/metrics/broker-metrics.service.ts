import { AuditService, AuditStreamService } from '@app/audit';
import type { IdpCallEvent } from '@app/cloudentity';
import { pgPool } from '@app/database';
import type { TykCallEvent } from '@app/tyk-portal';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { shareMetrics } from '../cluster/cluster-metrics.js';

/** How often a scrape may refresh the one gauge that needs a database query. */
export const SEALING_LAG_REFRESH_MS = 15_000;

/**
 * The broker's Prometheus metrics, in a registry of its own per app instance (two brokers in one
 * test process must not share counters).
 */
@Injectable()
export class BrokerMetrics implements OnModuleDestroy {
  readonly registry = new Registry();
  /** In a cluster worker, the primary collects this registry for `/metrics` (cluster-metrics.ts). */
  private readonly unshare = shareMetrics(this.registry);
  private readonly logins = new Counter({
    name: 'broker_logins_total',
    help: 'Completed login callbacks by outcome and reason code',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly loginDuration = new Histogram({
    name: 'broker_login_duration_seconds',
    help: 'Time the broker spent on a login step (start or callback), by outcome',
    labelNames: ['step', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly tykCalls = new Histogram({
    name: 'broker_portal_request_duration_seconds',
    help: 'Calls to the Tyk portal, Dashboard and Gateway, by target, endpoint and status',
    labelNames: ['target', 'endpoint', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly idpCalls = new Histogram({
    name: 'broker_idp_request_duration_seconds',
    help: 'Calls to OpenID providers (discovery, JWKS, token, userinfo), by endpoint and status',
    labelNames: ['method', 'endpoint', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  constructor(
    private readonly audit: AuditService,
    @InjectDataSource() private readonly dataSource: DataSource,
    stream: AuditStreamService,
  ) {
    collectDefaultMetrics({ register: this.registry });
    const pool = () => pgPool(this.dataSource);
    new Gauge({
      name: 'broker_db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const p = pool();
        if (!p) return;
        this.set({ state: 'total' }, p.totalCount);
        this.set({ state: 'idle' }, p.idleCount);
        this.set({ state: 'waiting' }, p.waitingCount);
      },
    });
    // A lag is the database's, the same in every worker: a cluster's /metrics shows the largest
    // (AggregatorRegistry sums by default, which would report N times the lag).
    const sealingLag = throttledRefresh(() => this.audit.sealingLagSeconds(), SEALING_LAG_REFRESH_MS);
    new Gauge({
      name: 'broker_audit_sealing_lag_seconds',
      help: `Age of the oldest audit event not yet sealed into the hash chain (0 when all are sealed), measured at most every ${SEALING_LAG_REFRESH_MS / 1000} s`,
      registers: [this.registry],
      aggregator: 'max',
      async collect() {
        this.set(await sealingLag());
      },
    });
    if (stream.enabled) {
      const streamLag = throttledRefresh(() => stream.lagSeconds(), SEALING_LAG_REFRESH_MS);
      new Gauge({
        name: 'broker_audit_stream_lag_seconds',
        help: `Age of the oldest audit event the SIEM stream has not delivered (0 when caught up), measured at most every ${SEALING_LAG_REFRESH_MS / 1000} s`,
        registers: [this.registry],
        aggregator: 'max',
        async collect() {
          this.set(await streamLag());
        },
      });
    }
  }

  /**
   * One login step ended. The duration goes to the histogram of its step; the logins counter
   * counts finished logins: every callback, and starts that already failed (no callback follows).
   */
  loginStep(step: 'start' | 'callback', outcome: 'success' | 'failure', reason: string, started: bigint): void {
    this.loginDuration.observe({ step, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    if (step === 'callback' || outcome === 'failure') this.logins.inc({ outcome, reason });
  }

  /**
   * Upstream calls, both wired the same way: the libs report each call through their module's
   * `onCall` port (CloudentityModule.forRoot, TykPortalModule.forRoot) and the app module binds it here.
   */
  observeIdp(event: IdpCallEvent): void {
    // The endpoint's kind, never its URL: /metrics must not map the internal network (issue 13).
    this.idpCalls.observe(
      { method: event.method, endpoint: event.kind, status: String(event.status) },
      event.ms / 1000,
    );
  }

  observeTyk(event: TykCallEvent): void {
    this.tykCalls.observe(
      { target: event.target, endpoint: event.endpoint, status: String(event.status) },
      event.ms / 1000,
    );
  }

  onModuleDestroy(): void {
    this.unshare();
  }
}

/**
 * A database-backed gauge value refreshed at most once per `everyMs`, one query at a time, keeping
 * the last value when a query fails (so /metrics cannot be used to load the database).
 */
function throttledRefresh(read: () => Promise<number>, everyMs: number): () => Promise<number> {
  let value = 0;
  let at = -Infinity;
  let pending: Promise<number> | null = null;
  return () => {
    if (performance.now() - at < everyMs) return Promise.resolve(value);
    pending ??= read()
      .then(
        (v) => (value = v),
        () => value,
      )
      .finally(() => {
        at = performance.now();
        pending = null;
      });
    return pending;
  };
}
