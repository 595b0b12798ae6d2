/** The Nest module: import it once (it needs BrokerConfigModule and DatabaseModule.forRoot()). */
export { CloudentityModule } from './cloudentity.module.js';
/** Developer login: `start` → authorize URL, `finish` → verified identity (DomainError on failure). */
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
/** The HTTP client for IdP calls; `onCall` reports each call's latency and status (metrics). */
export { IdpHttpClient, type IdpCallEvent, type IdpEndpointKind } from './idp-http.client.js';
/** Security console sign-in: authorization code + PKCE at the admin issuer, roles from the admin claim. */
export { StaffSignInClient, type StaffIdentity, type StaffSignInStart } from './staff-sign-in.client.js';
