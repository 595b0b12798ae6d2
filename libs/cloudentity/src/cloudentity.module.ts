import { Module } from '@nestjs/common';
import { AdminTokenVerifier } from './admin-token.verifier.js';
import { IdpHttpClient } from './idp-http.client.js';
import { JwksCache } from './jwks.cache.js';
import { LoginStateStore } from './login-state.store.js';
import { OidcDiscoveryService } from './oidc-discovery.service.js';
import { OidcLoginService } from './oidc-login.service.js';
import { OidcStrategyRegistry } from './oidc-strategy.registry.js';
import { StaffSignInClient } from './staff-sign-in.client.js';

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
    LoginStateStore,
    OidcStrategyRegistry,
    OidcLoginService,
    AdminTokenVerifier,
    StaffSignInClient,
  ],
  exports: [OidcLoginService, AdminTokenVerifier, StaffSignInClient, OidcDiscoveryService, OidcStrategyRegistry, IdpHttpClient],
})
export class CloudentityModule {}
