import type { AuditService, AuditStreamService } from '@app/audit';
import { AggregatorRegistry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { BrokerMetrics } from './broker-metrics.service.js';

/** One worker's metrics, as the cluster primary receives them, with these lags in the database. */
async function workerMetrics(sealingLag: number, streamLag: number) {
  const audit = { sealingLagSeconds: () => Promise.resolve(sealingLag) } as unknown as AuditService;
  const stream = { enabled: true, lagSeconds: () => Promise.resolve(streamLag) } as unknown as AuditStreamService;
  const metrics = new BrokerMetrics(audit, { driver: {} } as unknown as DataSource, stream);
  try {
    return await metrics.registry.getMetricsAsJSON();
  } finally {
    metrics.onModuleDestroy();
  }
}

describe('BrokerMetrics under BROKER_WORKERS', () => {
  it('should merge the workers’ lag gauges as the largest lag, not their sum (it is one database)', async () => {
    const merged = await AggregatorRegistry.aggregate([await workerMetrics(5, 2), await workerMetrics(7, 3)]).metrics();
    expect(merged).toMatch(/^broker_audit_sealing_lag_seconds 7$/m);
    expect(merged).toMatch(/^broker_audit_stream_lag_seconds 3$/m);
  });
});
