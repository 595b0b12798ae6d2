import { Module } from '@nestjs/common';
import { AdminTokenVerifier } from './admin-token.verifier.js';
import { IdpHttpClient } from './idp-http.client.js';
import { JwksCache } from './jwks.cache.js';
import { LoginStateRepository } from './login-state.repository.js';
import { LoginStateStore } from './login-state.store.js';
import { OidcDiscoveryService } from './oidc-discovery.service.js';
import { OidcLoginService } from './oidc-login.service.js';
import { OidcStrategyRegistry } from './oidc-strategy.registry.js';

/**
 * OpenID Connect for the broker: developer logins (OidcLoginService) and admin bearer tokens
 * (AdminTokenVerifier). Needs BrokerConfigModule and DatabaseModule.forRoot() in the app (the
 * `login_states` table comes from the shared migration history).
 */
@Module({
  providers: [
    IdpHttpClient,
    OidcDiscoveryService,
    JwksCache,
    LoginStateRepository,
    LoginStateStore,
    OidcStrategyRegistry,
    OidcLoginService,
    AdminTokenVerifier,
  ],
  exports: [OidcLoginService, AdminTokenVerifier, OidcDiscoveryService, OidcStrategyRegistry, IdpHttpClient],
})
export class CloudentityModule {}
