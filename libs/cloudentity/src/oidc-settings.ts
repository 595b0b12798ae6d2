import type { JWTPayload } from 'jose';

/**
 * What the login service needs to know about one (profile, provider) pair. Structural: the
 * profiles lib maps a TIB profile onto it.
 */
export interface OidcClientSettings {
  /** Changes whenever the profile changes; strategies are cached under it. */
  cacheKey: string;
  profileId: string;
  /** The `Name` of the profile's `UseProviders` entry, e.g. `openid-connect`. */
  providerName: string;
  clientId: string;
  clientSecret: string;
  /** `{issuer}/.well-known/openid-configuration`; the issuer is derived from it and checked. */
  discoverUrl: string;
  scopes: string[];
  skipUserInfoRequest: boolean;
  /** `{CallbackBaseURL}/auth/{id}/{provider}/callback`, sent as `redirect_uri`. */
  callbackUrl: string;
  /** Forces a client authentication method; otherwise chosen from the discovery document. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /**
   * Plain http to a host that is not loopback is allowed for the DiscoverURL and the IdP's
   * endpoints (`ProviderConfig.AllowInsecureHttp`); otherwise https only, except loopback.
   */
  allowInsecureHttp?: boolean;
}

/** How verified claims become a portal identity (TIB's `CreateIdentity`, tib.md §5). */
export interface IdentityMappingSettings {
  customEmailField: string;
  customUserIdField: string;
  customUserGroupField: string;
  /** Separator for a string-valued group claim; empty means a single space, as TIB. */
  userGroupSeparator: string;
  userGroupMapping: Record<string, string> | null;
  defaultUserGroupId: string;
  /** `ProviderConstraints.Domain`: the email must belong to this domain (empty: no constraint). */
  domain: string;
  /** Claim holding the Cloudentity organisation id (default `organization_id`). */
  organisationClaim: string;
  /** Claim holding the organisation's display name (default `organization_name`). */
  organisationNameClaim: string;
  /** Accept an email the IdP does not vouch for (`email_verified` not true). Off by default. */
  allowUnverifiedEmail: boolean;
  /** Provider name used in the SSO key, e.g. `openid-connect`. */
  provider: string;
}

/** The outcome of a successful callback: an identity whose every claim has been verified. */
export interface VerifiedLogin {
  /** The discovery (and ID token) issuer. */
  issuer: string;
  /** The ID token's `sub`. */
  subject: string;
  /** Userinfo claims merged over the ID token claims, as TIB does. */
  claims: Record<string, unknown>;
  /** The verified ID token claims alone. */
  idTokenClaims: JWTPayload;
}

/**
 * The parts of an HTTP request the login service reads. An Express request fits; so does a
 * plain object in tests.
 */
export interface OidcRequest {
  query?: Record<string, unknown>;
  url?: string;
  method?: string;
  headers?: Record<string, unknown>;
}

/**
 * Optional per-login options. `browserBinding`: a random value only the starting browser holds
 * (e.g. an HttpOnly, SameSite=Lax cookie the controller sets on start). Its hash is stored with
 * the state, and `finish` must be given the same value: otherwise someone could start a login,
 * stop at the callback and make a victim's browser complete it (login CSRF). Without it the
 * state still protects nonce and PKCE, but not against that.
 */
export interface LoginOptions {
  browserBinding?: string;
}

/** The identity handed to the portal action (TIB semantics, with the fixes listed on mapIdentity). */
export interface MappedIdentity {
  email: string;
  emailVerified: boolean;
  userId: string;
  displayName: string;
  firstName: string;
  lastName: string;
  groupIds: string[];
  groupId: string;
  organisationId: string | null;
  organisationName: string | null;
  ssoKey: string;
}
