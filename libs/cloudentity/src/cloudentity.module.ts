import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { AdminTokenVerifier } from './admin-token.verifier.js';
import { CloudentityStrategy } from './cloudentity.strategy.js';
import { IdpHttpClient } from './idp-http.client.js';
import { JwksCache } from './jwks.cache.js';
import { LoginStateStore } from './login-state.store.js';
import { OidcDiscoveryService } from './oidc-discovery.service.js';
import { OidcLoginService } from './oidc-login.service.js';
import { OidcStrategyRegistry } from './oidc-strategy.registry.js';

/**
 * OpenID Connect for the broker: developer logins (CloudentityStrategy, registered with
 * @nestjs/passport, for AuthGuard routes; OidcLoginService for the same login as two calls) and
 * admin bearer tokens (AdminTokenVerifier). Needs BrokerConfigModule and DatabaseModule.forRoot() in the app (the
 * `login_states` table comes from the shared migration history).
 */
@Module({
  imports: [PassportModule],
  providers: [
    CloudentityStrategy,
    IdpHttpClient,
    OidcDiscoveryService,
    JwksCache,
    LoginStateStore,
    OidcStrategyRegistry,
    OidcLoginService,
    AdminTokenVerifier,
  ],
  exports: [
    PassportModule,
    CloudentityStrategy,
    OidcLoginService,
    AdminTokenVerifier,
    OidcDiscoveryService,
    OidcStrategyRegistry,
    IdpHttpClient,
  ],
})
export class CloudentityModule {}
