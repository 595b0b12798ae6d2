import { AuditModule } from '@app/audit';
import { Module } from '@nestjs/common';
import { BrokerMetrics } from './broker-metrics.service.js';
import { MetricsController } from './metrics.controller.js';

@Module({
  imports: [AuditModule],
  controllers: [MetricsController],
  providers: [BrokerMetrics],
  exports: [BrokerMetrics],
})
export class MetricsModule {}
