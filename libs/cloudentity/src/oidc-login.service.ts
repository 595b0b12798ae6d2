import { DomainError } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import passport from 'passport';
import {
  CLOUDENTITY_STRATEGY,
  CloudentityStrategy,
  type CloudentityAuthenticateOptions,
} from './cloudentity.strategy.js';
import type { LoginStep } from './hardened-oidc.strategy.js';
import type { LoginOptions, OidcClientSettings, OidcRequest, VerifiedLogin } from './oidc-settings.js';
import { OidcStrategyRegistry } from './oidc-strategy.registry.js';

/**
 * The developer login as two calls, for code that is not an HTTP route (the broker's login
 * routes use LoginGuard, an AuthGuard over the same strategy): `start` gives the authorize URL,
 * `finish` turns the callback into a verified identity. Both go through passport's own
 * `authenticate` with CloudentityStrategy, so they run exactly what the routes run; see
 * HardenedOidcStrategy for what is checked. Failures are DomainErrors with the login codes
 * (`discovery_failed`, `state_invalid`, `nonce_mismatch`, `id_token_invalid`,
 * `token_exchange_failed`, `userinfo_failed`, `userinfo_sub_mismatch`, `idp_error`,
 * `access_denied`, and `unavailable` when the database is down). No message or log line holds a
 * token, code, nonce, state or verifier.
 */
@Injectable()
export class OidcLoginService {
  private readonly logger = new Logger(OidcLoginService.name);

  constructor(
    private readonly strategies: OidcStrategyRegistry,
    // Injected so the strategy is registered with passport before the first call.
    readonly strategy: CloudentityStrategy,
  ) {}

  /**
   * Stores a one-time login state (one database round trip) and returns the IdP's authorize URL
   * with state, nonce and an S256 code challenge. Never returns a URL of an IdP whose discovery
   * document failed validation. With `options.browserBinding` the state completes only when
   * `finish` is given the same value.
   */
  async start(settings: OidcClientSettings, req: OidcRequest, options: LoginOptions = {}): Promise<string> {
    const outcome = await this.authenticate(settings, 'start', { ...req, query: {} }, options);
    if (outcome.location === undefined) throw new DomainError('unavailable', 'The login start did not redirect');
    return outcome.location;
  }

  /**
   * Handles the callback: IdP errors, the RFC 9207 `iss` parameter, the state (consumed once,
   * the only database round trip), the code exchange with PKCE, the ID token, and userinfo.
   */
  async finish(settings: OidcClientSettings, req: OidcRequest, options: LoginOptions = {}): Promise<VerifiedLogin> {
    const outcome = await this.authenticate(settings, 'finish', req, options);
    if (!outcome.user) throw new DomainError('idp_error', 'The login did not complete');
    return outcome.user;
  }

  private async authenticate(
    settings: OidcClientSettings,
    step: LoginStep,
    req: OidcRequest,
    options: LoginOptions,
  ): Promise<{ location?: string; user?: VerifiedLogin }> {
    let strategy;
    try {
      strategy = await this.strategies.get(settings);
    } catch (error: unknown) {
      const domain = this.failed(settings, step, error);
      this.logger.warn(
        `Login ${step} failed for profile ${settings.profileId}/${settings.providerName}: ${domain.code}`,
      );
      throw domain;
    }
    const authenticateOptions: CloudentityAuthenticateOptions = {
      strategy,
      step,
      browserBinding: options.browserBinding,
    };
    return new Promise((resolve, reject) => {
      // What passport's `redirect` action writes to a response: the Location is all we keep.
      const headers = new Map<string, string>();
      const res = {
        statusCode: 200,
        setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), value),
        end: () => resolve({ location: headers.get('location') }),
      };
      const middleware = passport.authenticate(
        CLOUDENTITY_STRATEGY,
        authenticateOptions as object,
        (err: unknown, user: unknown) => {
          if (err) reject(this.failed(settings, step, err));
          else resolve({ user: user as VerifiedLogin });
        },
      ) as (req: unknown, res: unknown, next: (err?: unknown) => void) => void;
      middleware({ ...req }, res, (err?: unknown) => reject(this.failed(settings, step, err)));
    });
  }

  private failed(settings: OidcClientSettings, step: string, error: unknown): DomainError {
    if (error instanceof DomainError) return error;
    this.logger.error(`Unexpected ${error instanceof Error ? error.name : typeof error} in login ${step}`);
    return new DomainError('unavailable', `The login ${step} failed unexpectedly`);
  }
}
