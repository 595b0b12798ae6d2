import {
  Module,
  type DynamicModule,
  type FactoryProvider,
  type ModuleMetadata,
  type Provider,
  type ValueProvider,
} from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { AdminTokenVerifier } from './admin-token.verifier.js';
import { CloudentityStrategy } from './cloudentity.strategy.js';
import { IDP_CALL_OBSERVER, IdpHttpClient, type IdpCallObserver } from './idp-http.client.js';
import { JwksCache } from './jwks.cache.js';
import { LoginStateRepository } from './login-state.repository.js';
import { LoginStateStore } from './login-state.store.js';
import { OidcDiscoveryService } from './oidc-discovery.service.js';
import { OidcLoginService } from './oidc-login.service.js';
import { OidcStrategyRegistry } from './oidc-strategy.registry.js';
import { StaffSignInClient } from './staff-sign-in.client.js';

export interface CloudentityModuleOptions {
  /** Modules that provide what `onCall` injects (the broker's metrics). */
  imports?: ModuleMetadata['imports'];
  /** Metrics hook called after every HTTP call to an IdP (as TykPortalModule.forRoot's `onCall`). */
  onCall?: Omit<FactoryProvider<IdpCallObserver>, 'provide'> | Omit<ValueProvider<IdpCallObserver>, 'provide'>;
}

/**
 * OpenID Connect for the broker: developer logins (CloudentityStrategy, registered with
 * @nestjs/passport, for AuthGuard routes; OidcLoginService for the same login as two calls) and
 * admin bearer tokens (AdminTokenVerifier). Needs BrokerConfigModule and DatabaseModule.forRoot() in the app (the
 * `login_states` table comes from the shared migration history). Import it plain, or through
 * `forRoot({ onCall })` to hear every IdP call, the way TykPortalModule reports portal calls.
 */
@Module({
  imports: [PassportModule],
  providers: [
    CloudentityStrategy,
    IdpHttpClient,
    OidcDiscoveryService,
    JwksCache,
    LoginStateRepository,
    LoginStateStore,
    OidcStrategyRegistry,
    OidcLoginService,
    AdminTokenVerifier,
    StaffSignInClient,
  ],
  exports: [
    PassportModule,
    CloudentityStrategy,
    OidcLoginService,
    AdminTokenVerifier,
    StaffSignInClient,
    OidcDiscoveryService,
    OidcStrategyRegistry,
    IdpHttpClient,
  ],
})
export class CloudentityModule {
  static forRoot(options: CloudentityModuleOptions = {}): DynamicModule {
    return {
      module: CloudentityModule,
      imports: [...(options.imports ?? [])],
      providers: [
        options.onCall
          ? ({ provide: IDP_CALL_OBSERVER, ...options.onCall } as Provider)
          : { provide: IDP_CALL_OBSERVER, useValue: null },
      ],
    };
  }
}
