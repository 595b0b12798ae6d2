import { AuditModule } from '@app/audit';
import { ClientBuckets } from '@app/common';
import { Module } from '@nestjs/common';
import { BrokerMetrics } from './broker-metrics.service.js';
import { MetricsTokenGate } from './metrics-token.gate.js';
import { MetricsController } from './metrics.controller.js';

@Module({
  imports: [AuditModule],
  controllers: [MetricsController],
  providers: [BrokerMetrics, MetricsTokenGate, ClientBuckets],
  exports: [BrokerMetrics, MetricsTokenGate],
})
export class MetricsModule {}
