import { AuditService } from '@app/audit';
import { clipText, isDomainError, loggableError, type ErrorCode, type RequestContextData } from '@app/common';
import { Injectable, Logger } from '@nestjs/common';
import { isDatabaseUnavailable } from '../common/all-exceptions.filter.js';
import { statusForCode } from '../common/error-status.js';
import { publicMessage } from '../common/public-messages.js';
import { BrokerMetrics } from '../metrics/broker-metrics.service.js';
import { errorPage } from '../pages/html.js';
import type { LoginAttempt } from './login-attempt.js';
import { LoginSettings } from './login-settings.service.js';
import type { LoginOutcome } from './login-outcome.js';

/**
 * A login that failed after its profile was found: thrown by LoginGuard and LoginFlowService,
 * rendered by LoginFailureFilter (audit, metrics, FailureRedirect or the error page).
 */
export class LoginFailedException extends Error {
  constructor(
    readonly attempt: LoginAttempt,
    readonly error: unknown,
    /** What the callback had learnt before it failed, so the refusal is found by developer and organisation. */
    readonly known: { developerId?: string | null; organisationId?: string | null } = {},
  ) {
    super('login failed');
    this.name = 'LoginFailedException';
  }
}

/** The error page's sentence when the unverified email comes from the profile's CustomEmailField. */
export function customEmailHint(field: string): string {
  return (
    `This sign-in profile takes the email from the claim "${field}" (CustomEmailField), which the identity provider does not mark verified, ` +
    'so sign-in is refused. An administrator can remove CustomEmailField from the profile, or set ProviderConfig.AllowUnverifiedEmail to true if the identity provider checks that claim.'
  );
}

/**
 * Appends `error=<code>` to the profile's FailureRedirect, keeping its query and fragment; null
 * when it is not an absolute http(s) URL. Only SocialProvider profiles have that checked at save:
 * TIB's LDAP/SAML/Proxy profiles often carry a relative one (`/login?failed=1`), and a
 * `javascript:` one must never become a Location.
 */
export function failureLocation(failureRedirect: string, code: string): string | null {
  let url: URL;
  try {
    url = new URL(failureRedirect);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  url.searchParams.set('error', code);
  return url.toString();
}

/**
 * How a failed login ends: audited as login.failed with its code, counted, logged without the
 * detail reaching the browser, then a 302 to FailureRedirect?error=<code> or the broker's error
 * page with the code, a sentence and the request id to quote (issue 13).
 */
@Injectable()
export class LoginFailures {
  private readonly logger = new Logger(LoginFailures.name);

  constructor(
    private readonly settings: LoginSettings,
    private readonly audit: AuditService,
    private readonly metrics: BrokerMetrics,
  ) {}

  async render(failure: LoginFailedException, ctx: RequestContextData): Promise<LoginOutcome> {
    const { attempt, error } = failure;
    const { step, stored } = attempt;
    const developerId = failure.known.developerId ?? null;
    const organisationId = failure.known.organisationId ?? null;
    let code: ErrorCode;
    // Only a sentence the broker wrote for the code reaches the page, never the error's message.
    let sentence: string | null = null;
    if (isDomainError(error)) {
      // profile_invalid is the admin API's 400 for a profile being saved; raised during a login it
      // is the stored profile's own configuration (an empty DashboardCredential, a TeamMapping to
      // a team the portal lacks), which the developer can neither cause nor fix.
      code = error.code === 'profile_invalid' ? 'profile_misconfigured' : error.code;
      const customEmailField = error.details?.customEmailField;
      if (code === 'email_unverified' && typeof customEmailField === 'string') {
        // TIB profiles with CustomEmailField fail every login here: make the fix impossible to miss.
        sentence = customEmailHint(customEmailField);
        this.logger.warn(
          {
            requestId: ctx.requestId,
            profileId: stored.profile.ID,
            code,
            setting: 'CustomEmailField',
            customEmailField,
          },
          `profile ${stored.profile.ID}: login refused because the email comes from CustomEmailField "${customEmailField}", ` +
            'which the identity provider does not mark verified; remove CustomEmailField from the profile, or set ' +
            'ProviderConfig.AllowUnverifiedEmail to true if the identity provider checks that claim',
        );
      }
    } else if (isDatabaseUnavailable(error)) {
      code = 'unavailable';
    } else {
      code = 'unavailable';
      this.logger.error(
        { requestId: ctx.requestId, error: loggableError(error), step, profileId: stored.profile.ID },
        'login failed unexpectedly',
      );
    }
    const status: number = statusForCode(code);
    if (isDomainError(error)) {
      // The detail (a setting's name, an upstream URL, a socket error) is for the log only; the
      // browser gets the code, a sentence and the request id to quote (issue 13).
      const detail = {
        requestId: ctx.requestId,
        step,
        code,
        profileId: stored.profile.ID,
        detail: clipText(error.message, 500),
      };
      if (code === 'profile_misconfigured') {
        // Fails every login through the profile until an operator fixes it.
        this.logger.error(detail, `login failed: profile ${stored.profile.ID} is misconfigured`);
      } else if (status >= 500) this.logger.warn(detail, 'login failed');
      else this.logger.log(detail, 'login failed');
    } else if (isDatabaseUnavailable(error)) {
      this.logger.warn(
        { requestId: ctx.requestId, step, code, profileId: stored.profile.ID, error: loggableError(error) },
        'login failed',
      );
    }
    try {
      await this.audit.record({
        type: 'login.failed',
        outcome: 'failure',
        reason: code,
        actor: developerId ? `developer:${developerId}` : 'anonymous',
        target: `profile:${stored.profile.ID}`,
        profileId: stored.profile.ID,
        developerId,
        organisationId,
        ...ctx,
        // The provider is a path segment anyone can make 16,000 characters long.
        details: { step, provider: clipText(attempt.provider, 128) },
      });
    } catch (auditError) {
      this.logger.warn({ reason: (auditError as Error).message, code }, 'could not audit login.failed');
    }
    this.metrics.loginStep(step, 'failure', code, attempt.started);
    const failureRedirect = this.settings.failureRedirect(stored);
    if (failureRedirect) {
      const location = failureLocation(failureRedirect, code);
      if (location !== null) return { kind: 'redirect', status: 302, location };
      // The value is the profile's, not the browser's: the operator sees this, the browser the page.
      this.logger.warn(
        { requestId: ctx.requestId, profileId: stored.profile.ID, code, setting: 'ProviderConfig.FailureRedirect' },
        `profile ${stored.profile.ID}: ProviderConfig.FailureRedirect is not an absolute http(s) URL; answering the error page instead`,
      );
    }
    return {
      kind: 'page',
      status,
      html: errorPage(status, code, sentence ?? publicMessage(code), ctx.requestId ?? ''),
    };
  }
}
