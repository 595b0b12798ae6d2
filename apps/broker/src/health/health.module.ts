import { AuditModule } from '@app/audit';
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), AuditModule],
  controllers: [HealthController],
})
export class HealthModule {}
