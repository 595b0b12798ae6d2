import { AuditModule } from '@app/audit';
import { ClientBuckets } from '@app/common';
import { DevelopersModule } from '@app/developers';
import { Module, type DynamicModule, type ModuleMetadata, type Provider, type Type } from '@nestjs/common';
import { DeprovisioningRepository } from './deprovisioning.repository.js';
import { DeprovisioningService } from './deprovisioning.service.js';
import { DeprovisioningWorker } from './deprovisioning.worker.js';
import { InactivityJob } from './inactivity.job.js';
import { ScimAuthGuard } from './scim/scim-auth.guard.js';
import { ScimUsersRepository } from './scim/scim-users.repository.js';
import { ScimUsersService } from './scim/scim-users.service.js';
import { ScimController } from './scim/scim.controller.js';
import { TOKEN_REVOKER, type TokenRevoker } from './token-revoker.js';

export interface ProvisioningModuleOptions {
  /** Modules providing TykPortalClient (the app's TykPortalModule) and the token revoker's needs. */
  imports: NonNullable<ModuleMetadata['imports']>;
  tokenRevoker: Type<TokenRevoker>;
}

/** SCIM 2.0 at /scim/v2 and deprovisioning (outbox, worker). Needs the provisioning, portal, admin and server config slices and the database. */
@Module({})
export class ProvisioningModule {
  static forRoot(options: ProvisioningModuleOptions): DynamicModule {
    const providers: Provider[] = [
      DeprovisioningRepository,
      DeprovisioningService,
      DeprovisioningWorker,
      InactivityJob,
      ScimUsersRepository,
      ScimUsersService,
      ScimAuthGuard,
      ClientBuckets,
      { provide: TOKEN_REVOKER, useClass: options.tokenRevoker },
    ];
    return {
      module: ProvisioningModule,
      imports: [AuditModule, DevelopersModule, ...options.imports],
      controllers: [ScimController],
      providers,
      exports: [DeprovisioningService, DeprovisioningWorker, ScimUsersService, InactivityJob],
    };
  }
}
