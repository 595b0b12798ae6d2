import { AuditModule } from '@app/audit';
import { Module } from '@nestjs/common';
import { LoginMetrics } from './login-metrics.js';
import { MetricsController } from './metrics.controller.js';

@Module({
  imports: [AuditModule],
  controllers: [MetricsController],
  providers: [LoginMetrics],
  exports: [LoginMetrics],
})
export class MetricsModule {}
