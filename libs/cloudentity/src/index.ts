/** The Nest module: import it once (it needs BrokerConfigModule and DatabaseModule.forRoot()). */
export { CloudentityModule, type CloudentityModuleOptions } from './cloudentity.module.js';
/**
 * Developer login through passport: the strategy (name CLOUDENTITY_STRATEGY) for AuthGuard routes,
 * the per-request options a guard passes, and the callback's pre-checks.
 */
export {
  CLOUDENTITY_STRATEGY,
  CloudentityStrategy,
  callbackParams,
  type CloudentityAuthenticateOptions,
} from './cloudentity.strategy.js';
/** The hardened passport-openidconnect instance of one (profile, provider), and a login step. */
export type { HardenedOidcStrategy, LoginStep } from './hardened-oidc.strategy.js';
/** Developer login as two calls: `start` → authorize URL, `finish` → verified identity (DomainError on failure). */
export { OidcLoginService } from './oidc-login.service.js';
/** Settings a profile maps to, the login result, and the request shape the service reads. */
export type {
  IdentityMappingSettings,
  LoginOptions,
  MappedIdentity,
  OidcClientSettings,
  OidcRequest,
  VerifiedLogin,
} from './oidc-settings.js';
/** Verified claims → portal identity (TIB CreateIdentity semantics with safer email rules). */
export { mapIdentity } from './identity-mapping.js';
/** Admin API bearer tokens: subject and broker roles, or DomainError('unauthorized'). */
export { AdminTokenVerifier, rolesFromClaim } from './admin-token.verifier.js';
/** Cached, validated discovery documents (also used for readiness checks of an IdP). */
export {
  ALLOWED_JWS_ALGORITHMS,
  OidcDiscoveryService,
  issuerFromDiscoverUrl,
  type DiscoveryDocument,
} from './oidc-discovery.service.js';
/** The per-(profile, provider) strategy cache (diagnostics: how many strategies were built). */
export { OidcStrategyRegistry } from './oidc-strategy.registry.js';
/** Client authentication at the token endpoint, as the login uses it (also for the setup doctor). */
export { chooseClientAuth, type ClientAuthMethod } from './oidc-back-channel.js';
export { basicClientCredentials } from './oidc-crypto.js';
/** The HTTP client for IdP calls; the IDP_CALL_OBSERVER port (CloudentityModule.forRoot `onCall`) hears each call. */
export {
  IDP_CALL_OBSERVER,
  IdpHttpClient,
  type IdpCallEvent,
  type IdpCallObserver,
  type IdpEndpointKind,
} from './idp-http.client.js';
/** Security console sign-in: authorization code + PKCE at the admin issuer, roles from the admin claim. */
export { StaffSignInClient, type StaffIdentity, type StaffSignInStart } from './staff-sign-in.client.js';
