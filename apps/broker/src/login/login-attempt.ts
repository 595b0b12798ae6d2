import type { VerifiedLogin } from '@app/cloudentity';
import type { StoredProfile } from '@app/profiles';
import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';

/** The two login routes: `start` (302 to the IdP) and `callback` (back from it). */
export type LoginRouteStep = 'start' | 'callback';

/** One request to a login route, as LoginGuard found it; failures are rendered from it. */
export interface LoginAttempt {
  step: LoginRouteStep;
  stored: StoredProfile;
  /** The provider path segment as requested (may be anything; clip before logging). */
  provider: string;
  /** process.hrtime.bigint() when the guard took the request (login duration metrics). */
  started: bigint;
  browserBinding?: string;
}

/** A callback that passed LoginGuard: the attempt and the identity the IdP vouched for. */
export interface AuthenticatedLogin {
  attempt: LoginAttempt;
  verified: VerifiedLogin;
}

const ATTEMPTS = new WeakMap<object, LoginAttempt>();

export function attachLoginAttempt(req: object, attempt: LoginAttempt): void {
  ATTEMPTS.set(req, attempt);
}

export function loginAttemptOf(req: object): LoginAttempt {
  const attempt = ATTEMPTS.get(req);
  if (!attempt) throw new Error('No login attempt on this request: is the route guarded by LoginGuard?');
  return attempt;
}

export const LOGIN_STEP_KEY = 'broker:login-step';

/** Marks a route as one of the two login steps (LoginGuard reads it). */
export const LoginStep = (step: LoginRouteStep) => SetMetadata(LOGIN_STEP_KEY, step);

/** `@CurrentLogin()`: the attempt and the verified login LoginGuard put on the request. */
export const CurrentLogin = createParamDecorator((_data: unknown, context: ExecutionContext): AuthenticatedLogin => {
  const req = context.switchToHttp().getRequest<{ user?: unknown }>();
  return { attempt: loginAttemptOf(req), verified: req.user as VerifiedLogin };
});
