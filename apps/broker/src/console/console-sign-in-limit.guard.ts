import { Injectable } from '@nestjs/common';
import { PerClientRateLimitGuard } from '../common/per-client-rate-limit.js';

/** Console sign-in starts per client and minute: far above what staff need, far below a flood. */
export const CONSOLE_SIGN_IN_PER_MINUTE = 30;

/**
 * Starts of a console sign-in per client (IPv4 address or IPv6 /64, as the login routes count
 * them) in a fixed one-minute window, per instance. Anyone may start one, and each start stores a
 * pending row (state, nonce, PKCE verifier, return path) for ten minutes, so without a limit an
 * anonymous flood grows `console_sessions` as fast as it can send. At most
 * CONSOLE_SIGN_IN_PER_MINUTE, and never more than the login routes' own limit
 * (BROKER_RATE_LIMIT_LOGIN_PER_MINUTE; 0 turns both off); beyond it, 429 `rate_limited` with
 * Retry-After until the window ends.
 */
@Injectable()
export class ConsoleSignInRateLimitGuard extends PerClientRateLimitGuard {
  protected limit(): number {
    return Math.min(this.config.rateLimit.loginPerMinute, CONSOLE_SIGN_IN_PER_MINUTE);
  }

  protected refusal(retryAfterSeconds: number): string {
    return `Too many console sign-ins from your address; try again in ${retryAfterSeconds} s`;
  }
}
