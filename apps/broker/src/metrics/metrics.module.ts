import { AuditModule } from '@app/audit';
import { CloudentityModule } from '@app/cloudentity';
import { Module } from '@nestjs/common';
import { LoginMetrics } from './login-metrics.js';
import { MetricsController } from './metrics.controller.js';

@Module({
  imports: [AuditModule, CloudentityModule],
  controllers: [MetricsController],
  providers: [LoginMetrics],
  exports: [LoginMetrics],
})
export class MetricsModule {}
