import { DomainError } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import passport from 'passport';
import type { HardenedOidcStrategy, LoginStep, StrategyActions, CallbackParams } from './hardened-oidc.strategy.js';
import { safeCode } from './oidc-crypto.js';
import { authorizationResponseIssuerRejected } from './oidc-discovery.service.js';
import type { OidcRequest, VerifiedLogin } from './oidc-settings.js';

/** The name the developer-login strategy is registered under with passport. */
export const CLOUDENTITY_STRATEGY = 'cloudentity';

/**
 * What a login route passes to passport for one request (AuthGuard's `getAuthenticateOptions`):
 * the hardened strategy of the request's (profile, provider), from OidcStrategyRegistry, and the
 * step. `browserBinding`: a random value only the starting browser holds (see LoginOptions).
 * `beforeRedirect` runs just before the start step's redirect to the IdP is written.
 * `redirectStatus`: the status of that redirect; passport's 302 when left out. The caller picks
 * it because it depends on the route's contract (TIB's login start answers 307).
 */
export interface CloudentityAuthenticateOptions {
  strategy: HardenedOidcStrategy;
  step: LoginStep;
  browserBinding?: string;
  beforeRedirect?: () => void;
  redirectStatus?: 302 | 303 | 307;
}

/** A query parameter as one string; repeated or nested parameters are treated as absent-and-bad. */
function param(query: Record<string, unknown> | undefined, name: string): string | undefined | null {
  const value = query?.[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : null;
}

/**
 * The callback's own checks, before any state is consumed: the RFC 9207 `iss` parameter
 * (required when discovery says `authorization_response_iss_parameter_supported`), IdP errors,
 * then a state and a code as single strings.
 */
export function callbackParams(
  query: Record<string, unknown> | undefined,
  strategy: HardenedOidcStrategy,
): CallbackParams {
  const issRejected = authorizationResponseIssuerRejected(query?.iss, strategy.discovery);
  if (issRejected) throw new DomainError('idp_error', issRejected);
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
  return { code, state };
}

type Verify = (login: VerifiedLogin, done: (err: unknown, user?: unknown) => void) => void;

/**
 * The passport strategy behind every developer login. Profiles are dynamic, so it holds no
 * client of its own: each request's options name the hardened passport-openidconnect instance
 * of its (profile, provider), and this strategy hands that instance passport's bound actions.
 * It keeps no per-app state, so two broker instances in one process (tests) can share the name.
 */
export class OidcDispatchStrategy extends passport.Strategy {
  private readonly logger = new Logger('CloudentityStrategy');
  override readonly name = CLOUDENTITY_STRATEGY;

  constructor(private readonly verify: Verify) {
    super();
  }

  override authenticate(req: OidcRequest, options?: object): void {
    const target = options as Partial<CloudentityAuthenticateOptions> | undefined;
    const strategy = target?.strategy;
    if (!strategy || (target.step !== 'start' && target.step !== 'finish')) {
      this.error(new DomainError('unavailable', 'The login route gave the strategy no provider'));
      return;
    }
    const step = target.step;
    const fail = (error: DomainError) => {
      this.logger.warn(
        `Login ${step} failed for profile ${strategy.settings.profileId}/${strategy.settings.providerName}: ${error.code}`,
      );
      this.error(error);
    };
    const actions: StrategyActions = {
      redirect: (url, status) => {
        target.beforeRedirect?.();
        this.redirect(url, target.redirectStatus ?? status);
      },
      success: (login) =>
        this.verify(login as VerifiedLogin, (err, user) => {
          if (err) fail(err instanceof DomainError ? err : new DomainError('idp_error', 'The login was not accepted'));
          else this.success(user as Express.User);
        }),
      error: fail,
    };
    let params: CallbackParams | null = null;
    if (step === 'finish') {
      try {
        params = callbackParams(req.query, strategy);
      } catch (error: unknown) {
        fail(error as DomainError);
        return;
      }
    }
    strategy.authenticateFor(actions, step, params, target.browserBinding);
  }
}

/**
 * The developer-login strategy registered with @nestjs/passport; login routes use it through
 * an AuthGuard (apps/broker LoginGuard). `validate` receives the verified login (ID token and
 * userinfo already checked) and makes it the request's `user`.
 */
@Injectable()
export class CloudentityStrategy extends PassportStrategy(OidcDispatchStrategy, CLOUDENTITY_STRATEGY) {
  validate(login: VerifiedLogin): VerifiedLogin {
    return login;
  }
}
