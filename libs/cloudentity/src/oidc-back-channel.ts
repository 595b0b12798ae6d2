import { DomainError } from '@app/common';
import { Logger } from '@nestjs/common';
import type { JWTPayload } from 'jose';
import { IdpHttpClient, IdpUnreachableError, parseJsonObject } from './idp-http.client.js';
import { JwksCache, KeySetUnavailableError } from './jwks.cache.js';
import { authorizedPartyRejected, JwtRejectedError, verifySignedJwt } from './jwt-verification.js';
import { basicClientCredentials, safeCode, safeEqual } from './oidc-crypto.js';
import type { DiscoveryDocument } from './oidc-discovery.service.js';
import type { OidcClientSettings } from './oidc-settings.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

/** What the back channel of every (profile, provider) shares: the HTTP client and the key sets. */
export interface BackChannelDependencies {
  http: IdpHttpClient;
  jwks: JwksCache;
  clockToleranceSeconds: number;
}

/**
 * Client authentication at the token endpoint (never both at once): what the settings force,
 * else client_secret_basic (Cloudentity's default and the discovery default when the document
 * lists nothing), else client_secret_post when that is all the IdP supports.
 */
export function chooseClientAuth(doc: DiscoveryDocument, forced?: ClientAuthMethod): ClientAuthMethod {
  if (forced) return forced;
  const supported = doc.token_endpoint_auth_methods_supported;
  if (!supported || supported.includes('client_secret_basic')) return 'client_secret_basic';
  if (supported.includes('client_secret_post')) return 'client_secret_post';
  return 'client_secret_basic';
}

/** A redeemed code: the token response and its ID token, already verified. */
export interface RedeemedCode {
  tokens: Record<string, unknown> & { access_token: string };
  idToken: string;
  idTokenClaims: JWTPayload;
}

/**
 * The broker's side of the OpenID Connect back channel for one (profile, provider), on
 * IdpHttpClient (undici: timeout, TLS per config, no redirects) instead of passport-openidconnect's
 * oauth@0.10 client, which can only send the secret in the body and has no timeout or TLS setting:
 * the code exchange with `code_verifier` and client_secret_basic or client_secret_post, the ID
 * token verified with jose (signature against the discovery `jwks_uri`, algorithm allow-list, iss,
 * aud, azp, exp, iat, sub, nonce), and userinfo (the package's fetch crashes on a bad body,
 * oidc-rp.md §3.6). Every failure is a DomainError with its login code; no message holds a token.
 */
export class OidcBackChannel {
  private readonly logger = new Logger(OidcBackChannel.name);
  readonly clientAuth: ClientAuthMethod;

  constructor(
    private readonly settings: Readonly<OidcClientSettings>,
    private readonly discovery: DiscoveryDocument,
    private readonly deps: BackChannelDependencies,
  ) {
    this.clientAuth = chooseClientAuth(discovery, settings.tokenEndpointAuthMethod);
  }

  /**
   * Redeems the code with the PKCE verifier (client authentication per clientAuth), then
   * verifies the ID token against the nonce before anything else sees it.
   */
  async redeem(code: unknown, codeVerifier: string, nonce: string): Promise<RedeemedCode> {
    if (typeof code !== 'string' || code === '' || codeVerifier === '') {
      throw new DomainError('token_exchange_failed', 'No authorization code or PKCE verifier to redeem');
    }
    const { clientId, clientSecret, callbackUrl } = this.settings;
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: callbackUrl,
      code_verifier: codeVerifier,
    });
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/x-www-form-urlencoded',
    };
    if (this.clientAuth === 'client_secret_basic') {
      headers.authorization = basicClientCredentials(clientId, clientSecret);
    } else {
      body.set('client_id', clientId);
      body.set('client_secret', clientSecret);
    }
    let res;
    try {
      res = await this.deps.http.request({
        method: 'POST',
        url: this.discovery.token_endpoint,
        headers,
        body: body.toString(),
      });
    } catch (error: unknown) {
      const reason = error instanceof IdpUnreachableError ? error.reason : 'network';
      throw new DomainError('token_exchange_failed', `The token endpoint could not be reached (${reason})`);
    }
    const json = parseJsonObject(res.body);
    if (res.status !== 200 || !json) {
      throw new DomainError(
        'token_exchange_failed',
        `The token endpoint refused the code (HTTP ${res.status}, error=${safeCode(json?.error)})`,
      );
    }
    const accessToken = json.access_token;
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw new DomainError('token_exchange_failed', 'The token response has no access token');
    }
    if (typeof json.token_type !== 'string' || json.token_type.toLowerCase() !== 'bearer') {
      throw new DomainError('token_exchange_failed', 'The token response is not a Bearer token');
    }
    if (typeof json.id_token !== 'string' || json.id_token === '') {
      throw new DomainError('id_token_invalid', 'The token response has no ID token');
    }
    const idTokenClaims = await this.verifyIdToken(json.id_token, nonce);
    return { tokens: { ...json, access_token: accessToken }, idToken: json.id_token, idTokenClaims };
  }

  /**
   * The login's claims: the ID token's, with userinfo's merged over them when the IdP has a
   * userinfo endpoint and SkipUserInfoRequest is off (as TIB); userinfo must be about the same `sub`.
   * `email_verified` always comes from the claim set that supplied `email` (see mergeUserinfo).
   */
  async claimsFor(idClaims: JWTPayload & { sub: string }, accessToken: unknown): Promise<Record<string, unknown>> {
    let claims: Record<string, unknown> = { ...idClaims };
    const endpoint = this.discovery.userinfo_endpoint;
    // TIB calls userinfo when the IdP has one and SkipUserInfoRequest is off.
    if (!this.settings.skipUserInfoRequest && endpoint) {
      if (typeof accessToken !== 'string') {
        throw new DomainError('userinfo_failed', 'No access token for the userinfo request');
      }
      const userinfo = await this.fetchUserinfo(endpoint, accessToken);
      if (typeof userinfo.sub !== 'string' || !safeEqual(userinfo.sub, idClaims.sub)) {
        throw new DomainError('userinfo_sub_mismatch', 'The userinfo response is about another subject');
      }
      claims = mergeUserinfo(idClaims, userinfo);
    }
    return claims;
  }

  private async verifyIdToken(idToken: string, expectedNonce: string): Promise<JWTPayload> {
    const { clientId, profileId } = this.settings;
    let claims: JWTPayload;
    try {
      claims = await verifySignedJwt(idToken, this.deps.jwks.keySet(this.discovery.jwks_uri), {
        issuer: this.discovery.issuer,
        audience: clientId,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
        clockToleranceSeconds: this.deps.clockToleranceSeconds,
      });
    } catch (error: unknown) {
      if (error instanceof KeySetUnavailableError) {
        throw new DomainError('discovery_failed', "The identity provider's signing keys could not be fetched");
      }
      const reason = error instanceof JwtRejectedError ? error.reason : 'unverifiable';
      this.logger.warn(`ID token rejected for profile ${profileId}: ${reason}`);
      throw new DomainError('id_token_invalid', `The ID token was rejected (${reason})`);
    }
    if (authorizedPartyRejected(claims, clientId)) {
      throw new DomainError('id_token_invalid', 'The ID token was issued to another party (azp)');
    }
    // We always send a nonce, so a missing one is as wrong as a different one.
    if (expectedNonce === '' || typeof claims.nonce !== 'string' || !safeEqual(claims.nonce, expectedNonce)) {
      throw new DomainError('nonce_mismatch', 'The ID token does not carry the nonce of this login');
    }
    return claims;
  }

  private async fetchUserinfo(endpoint: string, accessToken: string): Promise<Record<string, unknown>> {
    let res;
    try {
      res = await this.deps.http.request({
        method: 'GET',
        url: endpoint,
        headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` },
      });
    } catch (error: unknown) {
      const reason = error instanceof IdpUnreachableError ? error.reason : 'network';
      throw new DomainError('userinfo_failed', `The userinfo endpoint could not be reached (${reason})`);
    }
    if (res.status !== 200) {
      throw new DomainError('userinfo_failed', `The userinfo endpoint answered HTTP ${res.status}`);
    }
    if (res.contentType.startsWith('application/jwt')) {
      throw new DomainError('userinfo_failed', 'Signed userinfo responses are not supported');
    }
    const json = parseJsonObject(res.body);
    if (!json) throw new DomainError('userinfo_failed', 'The userinfo response is not a JSON object');
    return json;
  }
}

/**
 * Userinfo's claims over the ID token's, except that `email_verified` is taken from the set that
 * supplied `email`: it vouches for that address only. The portal links accounts by email, so an
 * ID token's `email_verified: true` must not vouch for a different `email` userinfo sends without
 * its own `email_verified` (an inconsistent IdP would otherwise hand over another's account).
 */
export function mergeUserinfo(
  idClaims: Record<string, unknown>,
  userinfo: Record<string, unknown>,
): Record<string, unknown> {
  const claims: Record<string, unknown> = { ...idClaims, ...userinfo };
  const source = Object.hasOwn(userinfo, 'email') ? userinfo : idClaims;
  if (
    source === userinfo &&
    !Object.hasOwn(userinfo, 'email_verified') &&
    Object.hasOwn(idClaims, 'email') &&
    idClaims.email === userinfo.email
  ) {
    // The same address in both: the ID token's word on it still holds.
    return claims;
  }
  if (Object.hasOwn(source, 'email_verified')) claims.email_verified = source.email_verified;
  else delete claims.email_verified;
  return claims;
}
