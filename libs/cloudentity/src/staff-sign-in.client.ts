import { createHash, randomBytes } from 'node:crypto';
import { DomainError, type AdminRole } from '@app/common';
import { adminConfig, oidcConfig, type AdminConfig, type OidcConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { rolesFromClaim } from './admin-token.verifier.js';
import { IdpHttpClient, parseJsonObject } from './idp-http.client.js';
import { JwksCache, KeySetUnavailableError } from './jwks.cache.js';
import { authorizedPartyRejected, JwtRejectedError, verifySignedJwt } from './jwt-verification.js';
import {
  authorizationResponseIssuerRejected,
  OidcDiscoveryService,
  type DiscoveryDocument,
} from './oidc-discovery.service.js';

/** What the console keeps between the redirect and the callback (server-side, never in the browser). */
export interface StaffSignInStart {
  url: string;
  state: string;
  nonce: string;
  verifier: string;
}

export interface StaffIdentity {
  subject: string;
  name: string | null;
  roles: AdminRole[];
}

const random = () => randomBytes(32).toString('base64url');

/**
 * Security staff sign in to the console: OpenID Connect authorization code with PKCE (S256),
 * state and nonce, at the admin issuer (BROKER_ADMIN_OIDC_ISSUER) with the console's own client
 * (BROKER_CONSOLE_CLIENT_ID/_SECRET, client_secret_basic). The callback's RFC 9207 `iss` and the
 * ID token are checked as the developer login checks them (issuer's keys, allow-listed algorithms,
 * exact issuer, audience = the console client, azp, nonce); roles come from the same claim as
 * admin bearer tokens.
 */
@Injectable()
export class StaffSignInClient {
  private readonly logger = new Logger(StaffSignInClient.name);

  constructor(
    private readonly discovery: OidcDiscoveryService,
    private readonly jwks: JwksCache,
    private readonly http: IdpHttpClient,
    @Inject(adminConfig.KEY) private readonly admin: AdminConfig,
    @Inject(oidcConfig.KEY) private readonly oidc: OidcConfig,
  ) {}

  get enabled(): boolean {
    return this.admin.console.clientId !== '' && this.admin.oidc.issuer !== '';
  }

  private async document(): Promise<DiscoveryDocument> {
    const { issuer, allowInsecureHttp } = this.admin.oidc;
    try {
      return await this.discovery.get(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, {
        allowInsecureHttp,
      });
    } catch {
      throw new DomainError('unavailable', "The sign-in issuer's configuration could not be fetched");
    }
  }

  async start(redirectUri: string): Promise<StaffSignInStart> {
    const doc = await this.document();
    const start = { state: random(), nonce: random(), verifier: random() };
    const url = new URL(doc.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.admin.console.clientId,
      redirect_uri: redirectUri,
      scope: 'openid profile',
      state: start.state,
      nonce: start.nonce,
      code_challenge: createHash('sha256').update(start.verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), ...start };
  }

  /**
   * Checks the callback's `iss` (its raw query value), exchanges the code and verifies the ID
   * token; `unauthorized` for anything not right.
   */
  async finish(
    callback: { code: string; iss: unknown },
    redirectUri: string,
    expected: { nonce: string; verifier: string },
  ): Promise<StaffIdentity> {
    const doc = await this.document();
    const issRejected = authorizationResponseIssuerRejected(callback.iss, doc);
    if (issRejected) {
      // The code is never sent anywhere: it may have been meant for another issuer (mix-up).
      this.logger.warn(`console sign-in: ${issRejected}`);
      throw new DomainError('unauthorized', 'The sign-in could not be completed');
    }
    const { clientId, clientSecret } = this.admin.console;
    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');
    const res = await this.http
      .request({
        method: 'POST',
        url: doc.token_endpoint,
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: callback.code,
          redirect_uri: redirectUri,
          code_verifier: expected.verifier,
        }).toString(),
      })
      .catch(() => {
        throw new DomainError('unavailable', 'The sign-in issuer could not be reached');
      });
    const body = parseJsonObject(res.body);
    const idToken = body?.id_token;
    if (res.status !== 200 || typeof idToken !== 'string') {
      this.logger.warn(`console sign-in: the token endpoint answered ${res.status}`);
      throw new DomainError('unauthorized', 'The sign-in could not be completed');
    }
    try {
      const claims = await verifySignedJwt(idToken, this.jwks.keySet(doc.jwks_uri), {
        issuer: doc.issuer,
        audience: clientId,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'nonce'],
        clockToleranceSeconds: this.oidc.clockToleranceSeconds,
      });
      const azpRejected = authorizedPartyRejected(claims, clientId);
      if (azpRejected) throw new JwtRejectedError(azpRejected);
      if (claims.nonce !== expected.nonce) throw new JwtRejectedError('nonce mismatch');
      const name = typeof claims.name === 'string' ? claims.name : null;
      return { subject: claims.sub as string, name, roles: rolesFromClaim(claims[this.admin.oidc.rolesClaim]) };
    } catch (error: unknown) {
      if (error instanceof KeySetUnavailableError) {
        throw new DomainError('unavailable', "The sign-in issuer's signing keys could not be fetched");
      }
      this.logger.warn(
        `console sign-in: ID token rejected: ${error instanceof JwtRejectedError ? error.reason : 'invalid'}`,
      );
      throw new DomainError('unauthorized', 'The sign-in could not be completed');
    }
  }
}
