import { DomainError } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import { safeCode } from './oidc-crypto.js';
import type { LoginOptions, OidcClientSettings, OidcRequest, VerifiedLogin } from './oidc-settings.js';
import { OidcStrategyRegistry } from './oidc-strategy.registry.js';

/** A query parameter as one string; repeated or nested parameters are treated as absent-and-bad. */
function param(query: Record<string, unknown> | undefined, name: string): string | undefined | null {
  const value = query?.[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : null;
}

/**
 * The developer login through an OpenID Connect provider (Cloudentity): `start` gives the
 * authorize URL to redirect to, `finish` turns the callback into a verified identity. Both run
 * the hardened passport-openidconnect strategy of the (profile, provider) pair; see
 * HardenedOidcStrategy for what is checked. Failures are DomainErrors with the login codes
 * (`discovery_failed`, `state_invalid`, `nonce_mismatch`, `id_token_invalid`,
 * `token_exchange_failed`, `userinfo_failed`, `userinfo_sub_mismatch`, `idp_error`,
 * `access_denied`, and `unavailable` when the database is down). No message or log line holds a
 * token, code, nonce, state or verifier.
 */
@Injectable()
export class OidcLoginService {
  private readonly logger = new Logger(OidcLoginService.name);

  constructor(private readonly strategies: OidcStrategyRegistry) {}

  /**
   * Stores a one-time login state (one database round trip) and returns the IdP's authorize URL
   * with state, nonce and an S256 code challenge. Never returns a URL of an IdP whose discovery
   * document failed validation. With `options.browserBinding` the state completes only when
   * `finish` is given the same value.
   */
  async start(settings: OidcClientSettings, _req: OidcRequest, options: LoginOptions = {}): Promise<string> {
    try {
      const strategy = await this.strategies.get(settings);
      return await strategy.start(options.browserBinding);
    } catch (error: unknown) {
      throw this.failed(settings, 'start', error);
    }
  }

  /**
   * Handles the callback: IdP errors, the RFC 9207 `iss` parameter (required when discovery
   * says `authorization_response_iss_parameter_supported`), the state (consumed once, the
   * only database round trip), the code exchange with PKCE, the ID token, and userinfo.
   */
  async finish(settings: OidcClientSettings, req: OidcRequest, options: LoginOptions = {}): Promise<VerifiedLogin> {
    try {
      const strategy = await this.strategies.get(settings);
      const query = req.query;
      const iss = param(query, 'iss');
      // RFC 9207: an authorization response naming another issuer is a mix-up attack; one
      // without `iss` from a provider that always sends it is as suspect.
      if (iss === null || (iss !== undefined && iss !== strategy.discovery.issuer)) {
        throw new DomainError('idp_error', 'The authorization response comes from another issuer (iss)');
      }
      if (iss === undefined && strategy.discovery.authorization_response_iss_parameter_supported === true) {
        throw new DomainError(
          'idp_error',
          'The authorization response has no iss although the provider always sends it',
        );
      }
      const error = param(query, 'error');
      if (error !== undefined) {
        if (error === 'access_denied') {
          throw new DomainError('access_denied', 'The sign-in was cancelled or refused at the identity provider');
        }
        throw new DomainError('idp_error', `The identity provider reported an error (${safeCode(error)})`);
      }
      const state = param(query, 'state');
      if (typeof state !== 'string' || state === '') {
        throw new DomainError('state_invalid', 'The callback carries no login state');
      }
      const code = param(query, 'code');
      if (typeof code !== 'string' || code === '') {
        throw new DomainError('idp_error', 'The callback carries no authorization code');
      }
      return await strategy.finish({ code, state }, options.browserBinding);
    } catch (error: unknown) {
      throw this.failed(settings, 'finish', error);
    }
  }

  private failed(settings: OidcClientSettings, step: string, error: unknown): DomainError {
    const domain =
      error instanceof DomainError ? error : new DomainError('unavailable', `The login ${step} failed unexpectedly`);
    if (!(error instanceof DomainError)) {
      this.logger.error(`Unexpected ${error instanceof Error ? error.name : typeof error} in login ${step}`);
    }
    this.logger.warn(`Login ${step} failed for profile ${settings.profileId}/${settings.providerName}: ${domain.code}`);
    return domain;
  }
}
