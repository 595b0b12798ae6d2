import { AuditModule } from '@app/audit';
import { ClientBuckets } from '@app/common';
import { DevelopersModule } from '@app/developers';
import { ProfilesModule } from '@app/profiles';
import { Module, type DynamicModule } from '@nestjs/common';
import { ConsoleSessionService } from './console-session.service.js';
import { ConsoleSignInRateLimitGuard } from './console-sign-in-limit.guard.js';
import { ConsoleSessionsRepository } from './console-sessions.repository.js';
import { ConsoleViewsService } from './console-views.service.js';
import { ConsoleController } from './console.controller.js';
import { ConsoleGuard } from './console.guard.js';

/**
 * The security console at /console (issue 17): staff sign-in, sessions and the pages. It takes the
 * app's one CloudentityModule instance, so staff sign-in shares the IdP client, the discovery and
 * JWKS caches and the metrics port with the login routes instead of a second copy of each.
 */
@Module({})
export class ConsoleModule {
  static forRoot(cloudentity: DynamicModule): DynamicModule {
    return {
      module: ConsoleModule,
      imports: [AuditModule, cloudentity, DevelopersModule, ProfilesModule],
      controllers: [ConsoleController],
      providers: [
        ConsoleSessionsRepository,
        ConsoleSessionService,
        ConsoleViewsService,
        ConsoleGuard,
        ClientBuckets,
        ConsoleSignInRateLimitGuard,
      ],
    };
  }
}
