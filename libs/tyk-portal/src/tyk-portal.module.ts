import {
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type Provider,
  type Type,
} from '@nestjs/common';
import { TykDeveloperApiClient } from './developer-api.client.js';
import { IdentityActionsService } from './identity-actions.service.js';
import { InMemoryOrganisationLinkStore, type OrganisationLinkStore } from './organisation-link-store.js';
import { TykManagementApiClient } from './management-api.client.js';
import { OrganisationSyncService } from './organisation-sync.service.js';
import { PortalUserDirectory } from './portal-user-directory.js';
import { TykSsoApiClient } from './sso-api.client.js';
import { InMemoryTokenCache, type TokenCache } from './token-cache.js';
import { ORGANISATION_LINK_STORE, TOKEN_CACHE, TYK_CALL_OBSERVER } from './tyk-portal.constants.js';
import { TykPortalClient } from './tyk-portal.client.js';
import { TykHttp } from './tyk-http.js';
import type { TykCallObserver } from './tyk-portal.types.js';

/** How to bind a port: a class, an existing provider, a value or a factory. */
export type PortBinding<T> =
  | { useClass: Type<T> }
  | { useExisting: InjectionToken }
  | { useValue: T }
  | { useFactory: (...args: never[]) => T | Promise<T>; inject?: InjectionToken[] };

export interface TykPortalModuleOptions {
  /** Modules that provide the bound ports (e.g. the broker's Postgres stores). */
  imports?: ModuleMetadata['imports'];
  /** TIB's identity cache; default: {@link InMemoryTokenCache} (per process, lost on restart). */
  tokenCache?: PortBinding<TokenCache>;
  /** Organisation links; default: {@link InMemoryOrganisationLinkStore} (per process). */
  organisationLinkStore?: PortBinding<OrganisationLinkStore>;
  /** Metrics hook called after every HTTP attempt to Tyk. */
  onCall?: PortBinding<TykCallObserver>;
}

function bind<T>(provide: symbol, binding: PortBinding<T> | undefined, fallback: Type<T>): Provider {
  return { provide, ...(binding ?? { useClass: fallback }) } as Provider;
}

/**
 * The Tyk portal clients, TIB's identity actions and organisation sync. Needs the portal config slice (from
 * BrokerConfigModule). The broker binds the Postgres TokenCache and OrganisationLinkStore of
 * @app/developers (see apps/broker/src/app.module.ts):
 *
 * ```ts
 * TykPortalModule.forRoot({
 *   imports: [DevelopersModule],
 *   tokenCache: { useExisting: IssuedTokensStore },
 *   organisationLinkStore: { useExisting: OrganisationLinksService },
 *   onCall: { useFactory: (metrics: LoginMetrics) => (e) => metrics.observeTyk(e), inject: [LoginMetrics] },
 * })
 * ```
 */
@Module({})
export class TykPortalModule {
  static forRoot(options: TykPortalModuleOptions = {}): DynamicModule {
    return {
      module: TykPortalModule,
      imports: [...(options.imports ?? [])],
      providers: [
        TykHttp,
        TykSsoApiClient,
        TykDeveloperApiClient,
        TykManagementApiClient,
        TykPortalClient,
        IdentityActionsService,
        OrganisationSyncService,
        PortalUserDirectory,
        bind(TOKEN_CACHE, options.tokenCache, InMemoryTokenCache),
        bind(ORGANISATION_LINK_STORE, options.organisationLinkStore, InMemoryOrganisationLinkStore),
        options.onCall
          ? ({ provide: TYK_CALL_OBSERVER, ...options.onCall } as Provider)
          : { provide: TYK_CALL_OBSERVER, useValue: null },
      ],
      exports: [
        TykPortalClient,
        TykSsoApiClient,
        TykDeveloperApiClient,
        TykManagementApiClient,
        IdentityActionsService,
        OrganisationSyncService,
        TOKEN_CACHE,
        ORGANISATION_LINK_STORE,
      ],
    };
  }
}
