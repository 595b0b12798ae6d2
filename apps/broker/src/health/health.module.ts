import { AuditModule } from '@app/audit';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { MetricsModule } from '../metrics/metrics.module.js';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), AuditModule, MetricsModule],
  controllers: [HealthController],
})
export class HealthModule {}
