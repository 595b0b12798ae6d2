import {
  CLOUDENTITY_STRATEGY,
  OidcStrategyRegistry,
  type CloudentityAuthenticateOptions,
  type VerifiedLogin,
} from '@app/cloudentity';
import { DomainError, isDomainError } from '@app/common';
import { oidcConfig, serverConfig, type OidcConfig, type ServerConfig } from '@app/config';
import { providerConfigString } from '@app/profiles';
import { Inject, Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { Request, Response } from 'express';
import { BrokerMetrics } from '../metrics/broker-metrics.service.js';
import {
  attachLoginAttempt,
  LOGIN_STEP_KEY,
  loginAttemptOf,
  type LoginAttempt,
  type LoginRouteStep,
} from './login-attempt.js';
import { bindingCookie, newBinding, reachedOverHttps, readBinding } from './login-binding.js';
import { LoginFailedException } from './login-failures.service.js';
import { LoginSettings } from './login-settings.service.js';

/**
 * The status of the start's redirect to the IdP. TIB answers 307 (tothic.BeginAuthHandler:
 * `http.StatusTemporaryRedirect`), which keeps the method: for GET and HEAD that is TIB's answer.
 * Any other method (a form POST) gets 303, so the browser asks the IdP with a GET: a 307 would
 * re-send the caller's body to the IdP, which reads a POST authorization request from its body
 * (OIDC Core 3.1.2.1) and so would not see the broker's parameters, nor should it get the form.
 */
export function startRedirectStatus(method: string): 303 | 307 {
  return method === 'GET' || method === 'HEAD' ? 307 : 303;
}

/** What the guard hands passport through getAuthenticateOptions, per request. */
const PASSPORT_OPTIONS = new WeakMap<object, CloudentityAuthenticateOptions>();

/**
 * The login routes' AuthGuard over CloudentityStrategy. Before passport runs it finds the
 * profile (unknown: 404 through the global filter) and its provider, ties the login to the
 * browser (the binding cookie, see login-binding.ts) and picks the hardened strategy of the
 * (profile, provider) pair, which passport then runs:
 *
 * - start: passport redirects to the IdP itself (the guard never returns, as with every
 *   redirecting passport strategy); the route handler is not reached.
 * - callback: the verified login becomes `req.user` for the route (`@CurrentLogin()`).
 *
 * Any failure after the profile is known is thrown as LoginFailedException, which the login
 * controller's LoginFailureFilter renders (audit, FailureRedirect?error=<code>).
 */
@Injectable()
export class LoginGuard extends AuthGuard(CLOUDENTITY_STRATEGY) {
  constructor(
    private readonly reflector: Reflector,
    private readonly settings: LoginSettings,
    private readonly strategies: OidcStrategyRegistry,
    private readonly metrics: BrokerMetrics,
    @Inject(serverConfig.KEY) private readonly config: ServerConfig,
    @Inject(oidcConfig.KEY) private readonly oidc: OidcConfig,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const step = this.reflector.get<LoginRouteStep | undefined>(LOGIN_STEP_KEY, context.getHandler()) ?? 'callback';
    const { id, provider } = req.params as { id: string; provider: string };
    const stored = await this.settings.profile(id);
    const attempt: LoginAttempt = { step, stored, provider, started: process.hrtime.bigint() };
    attachLoginAttempt(req, attempt);
    let resolved;
    let refused: unknown;
    try {
      resolved = this.settings.provider(stored, provider);
    } catch (error: unknown) {
      // An unknown provider name is answered by the global filter (TIB's 400 envelope), not as a
      // login failure: TIB refuses it before any login begins.
      if (isDomainError(error) && error.code === 'provider_not_found') throw error;
      refused = error;
    }
    const https = reachedOverHttps(req, this.config.publicUrl, providerConfigString(stored.profile, 'CallbackBaseURL'));
    attempt.browserBinding = readBinding(req, https);
    res.setHeader('Cache-Control', 'no-store');
    if (step === 'start') {
      // Reuse the browser's binding so several tabs can sign in at once (see login-binding.ts).
      attempt.browserBinding ??= newBinding();
      const cookie = bindingCookie(https, this.oidc.loginStateTtlSeconds);
      res.cookie(cookie.name, attempt.browserBinding, cookie.options);
    }
    try {
      if (!resolved) throw refused;
      const strategy = await this.strategies.get(resolved.settings);
      PASSPORT_OPTIONS.set(req, {
        strategy,
        step: step === 'start' ? 'start' : 'finish',
        browserBinding: attempt.browserBinding,
        beforeRedirect: () => this.metrics.loginStep('start', 'success', 'ok', attempt.started),
        redirectStatus: startRedirectStatus(req.method),
      });
      return (await super.canActivate(context)) as boolean;
    } catch (error: unknown) {
      throw error instanceof LoginFailedException ? error : new LoginFailedException(attempt, error);
    }
  }

  override getAuthenticateOptions(context: ExecutionContext): CloudentityAuthenticateOptions | undefined {
    return PASSPORT_OPTIONS.get(context.switchToHttp().getRequest<object>());
  }

  override handleRequest<TUser = VerifiedLogin>(
    err: unknown,
    user: unknown,
    _info: unknown,
    context: ExecutionContext,
  ): TUser {
    if (err || !user) {
      const attempt = loginAttemptOf(context.switchToHttp().getRequest<object>());
      throw new LoginFailedException(attempt, err ?? new DomainError('idp_error', 'The login was refused'));
    }
    return user as TUser;
  }
}
