import { AuditModule } from '@app/audit';
import { CloudentityModule } from '@app/cloudentity';
import { Module } from '@nestjs/common';
import { BrokerMetrics } from './broker-metrics.service.js';
import { MetricsController } from './metrics.controller.js';

@Module({
  imports: [AuditModule, CloudentityModule],
  controllers: [MetricsController],
  providers: [BrokerMetrics],
  exports: [BrokerMetrics],
})
export class MetricsModule {}
