import { Injectable } from '@nestjs/common';
import { PerClientRateLimitGuard } from '../common/per-client-rate-limit.js';

/**
 * Requests to the login routes per client (IPv4 address or IPv6 /64; Express `trust proxy` decides the IP) in a fixed
 * one-minute window, per instance (under BROKER_WORKERS each worker enforces its share, which the server config slice computes);
 * beyond config.rateLimit.loginPerMinute, 429 `rate_limited` with Retry-After until the window ends.
 * 0 disables it.
 *
 * Not @nestjs/throttler: that package is CommonJS and requires the ESM-only @nestjs/common, which
 * jest's module runtime cannot load on Node 20, so every e2e suite that boots the broker failed.
 */
@Injectable()
export class LoginRateLimitGuard extends PerClientRateLimitGuard {
  protected limit(): number {
    return this.config.rateLimit.loginPerMinute;
  }

  protected refusal(retryAfterSeconds: number): string {
    return `Too many sign-in requests; retry in ${retryAfterSeconds} s`;
  }
}
