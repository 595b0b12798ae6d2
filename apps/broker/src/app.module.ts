import { AuditModule } from '@app/audit';
import { CloudentityModule, type IdpCallEvent } from '@app/cloudentity';
import { ClientBuckets } from '@app/common';
import { BrokerConfigModule, type BrokerConfig } from '@app/config';
import { DatabaseModule } from '@app/database';
import { DevelopersModule, IssuedTokensStore, OrganisationLinksService } from '@app/developers';
import { ProfilesModule } from '@app/profiles';
import { ProvisioningModule } from '@app/provisioning';
import { TykPortalModule, type TykCallEvent } from '@app/tyk-portal';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AdminGuard } from './common/admin.guard.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { ConsoleModule } from './console/console.module.js';
import { loggerParams } from './common/logging.js';
import { IssuedTokenRevoker } from './deprovisioning/issued-token-revoker.js';
import { HealthModule } from './health/health.module.js';
import { DoctorController } from './doctor/doctor.controller.js';
import { DoctorService } from './doctor/doctor.service.js';
import { LoginFailures } from './login/login-failures.service.js';
import { LoginFlowService } from './login/login-flow.service.js';
import { LoginSettings } from './login/login-settings.service.js';
import { LoginGuard } from './login/login.guard.js';
import { LoginRateLimitGuard } from './login/login-rate-limit.guard.js';
import { LoginController } from './login/login.controller.js';
import { BrokerMetrics } from './metrics/broker-metrics.service.js';
import { LogoutService } from './login/logout.service.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { HomeController } from './pages/home.controller.js';

export interface AppModuleOptions {
  /** Where logs go (stdout by default); tests capture them here. */
  logStream?: DestinationStream;
  /** false in a cluster worker: the primary ran the migrations (BROKER_WORKERS > 1). */
  migrate?: boolean;
}

/** Composition only: every lib wired together, plus the login flow, pages and admin guard. */
@Module({})
export class AppModule {
  static forRoot(config: BrokerConfig, options: AppModuleOptions = {}): DynamicModule {
    // One instance, imported by the app and by provisioning.
    const portal = TykPortalModule.forRoot({
      imports: [DevelopersModule, MetricsModule],
      organisationLinkStore: { useExisting: OrganisationLinksService },
      tokenCache: { useExisting: IssuedTokensStore },
      onCall: {
        useFactory: (metrics: BrokerMetrics) => (e: TykCallEvent) => metrics.observeTyk(e),
        inject: [BrokerMetrics],
      },
    });
    // One instance each, imported by the app and by the modules that share it (one IdP client,
    // one set of discovery and JWKS caches). Upstream calls are observed one way: each lib's
    // `onCall` port, bound to BrokerMetrics.
    const cloudentity = CloudentityModule.forRoot({
      imports: [MetricsModule],
      onCall: {
        useFactory: (metrics: BrokerMetrics) => (e: IdpCallEvent) => metrics.observeIdp(e),
        inject: [BrokerMetrics],
      },
    });
    return {
      module: AppModule,
      imports: [
        BrokerConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config, options.logStream)),
        DatabaseModule.forRoot({ migrate: options.migrate }),
        HealthModule,
        AuditModule,
        ProfilesModule,
        DevelopersModule,
        cloudentity,
        MetricsModule,
        ConsoleModule.forRoot(cloudentity),
        portal,
        // Block, unblock and erase reach the portal (and revoke issued tokens) through an outbox.
        ProvisioningModule.forRoot({ imports: [portal, ProfilesModule], tokenRevoker: IssuedTokenRevoker }),
      ],
      controllers: [HomeController, LoginController, DoctorController],
      providers: [
        LoginSettings,
        LoginFailures,
        LoginFlowService,
        LoginGuard,
        LogoutService,
        ClientBuckets,
        DoctorService,
        // Login routes per client IP, counted per instance (see the guard for why not @nestjs/throttler).
        LoginRateLimitGuard,
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_GUARD, useClass: AdminGuard },
      ],
    };
  }
}
