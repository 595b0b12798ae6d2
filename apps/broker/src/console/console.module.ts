import { AuditModule } from '@app/audit';
import { CloudentityModule } from '@app/cloudentity';
import { DevelopersModule } from '@app/developers';
import { ProfilesModule } from '@app/profiles';
import { Module } from '@nestjs/common';
import { ConsoleSessionService } from './console-session.service.js';
import { ConsoleSessionsRepository } from './console-sessions.repository.js';
import { ConsoleViewsService } from './console-views.service.js';
import { ConsoleController } from './console.controller.js';
import { ConsoleGuard } from './console.guard.js';

/** The security console at /console (issue 17): staff sign-in, sessions and the pages. */
@Module({
  imports: [AuditModule, CloudentityModule, DevelopersModule, ProfilesModule],
  controllers: [ConsoleController],
  providers: [ConsoleSessionsRepository, ConsoleSessionService, ConsoleViewsService, ConsoleGuard],
})
export class ConsoleModule {}
