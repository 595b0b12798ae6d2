import { SESSION_KEYS, type SessionKeys } from '@app/config';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditChainService } from './audit-chain.service.js';
import { AuditCheckpointsRepository } from './audit-checkpoints.repository.js';
import { AuditCheckpointsService } from './audit-checkpoints.service.js';
import { AuditEventsRepository } from './audit-events.repository.js';
import { AuditController } from './audit.controller.js';
import { AuditService } from './audit.service.js';
import { AuditVerifyTrust } from './audit-verify-trust.js';
import { CursorCodec } from './cursor.js';
import { AuditChainAnchorEntity, AuditChainHeadEntity } from './entities/audit-chain.entities.js';
import { AuditEventEntity } from './entities/audit-event.entity.js';
import { AuditStatsRepository } from './stats/audit-stats.repository.js';
import { AuditStatsService } from './stats/audit-stats.service.js';
import { AuditStreamRepository } from './stream/audit-stream.repository.js';
import { AuditStreamService } from './stream/audit-stream.service.js';

/**
 * The audit log: AuditService (record, query, export, verify), the background sealer and
 * retention (AuditChainService), and the `/api/audit` routes. Needs BrokerConfigModule and
 * DatabaseModule at the root.
 */
@Module({
  imports: [TypeOrmModule.forFeature([AuditEventEntity, AuditChainHeadEntity, AuditChainAnchorEntity])],
  controllers: [AuditController],
  providers: [
    AuditEventsRepository,
    AuditService,
    AuditChainRepository,
    AuditChainService,
    AuditCheckpointsRepository,
    AuditCheckpointsService,
    AuditVerifyTrust,
    AuditStreamRepository,
    AuditStreamService,
    AuditStatsRepository,
    AuditStatsService,
    // Every paged list signs its cursors with the one key derived for cursors.
    {
      provide: CursorCodec,
      useFactory: (keys: SessionKeys) => new CursorCodec(keys.key('cursor')),
      inject: [SESSION_KEYS],
    },
  ],
  exports: [AuditService, CursorCodec, AuditStreamService, AuditStatsService],
})
export class AuditModule {}
