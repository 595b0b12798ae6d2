import { ClientBuckets, DomainError, FixedWindowCounter } from '@app/common';
import { serverConfig, type ServerConfig } from '@app/config';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';

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
export class LoginRateLimitGuard implements CanActivate {
  private readonly counter = new FixedWindowCounter(60_000);

  constructor(
    @Inject(serverConfig.KEY) private readonly config: ServerConfig,
    private readonly buckets: ClientBuckets,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const limit = this.config.rateLimit.loginPerMinute;
    if (limit === 0) return true;
    const http = context.switchToHttp();
    const key = this.buckets.bucket(http.getRequest<Request>());
    if (this.counter.hit(key) <= limit) return true;
    const retryAfter = this.counter.retryAfterSeconds(key);
    http.getResponse<Response>().setHeader('Retry-After', String(retryAfter));
    throw new DomainError('rate_limited', `Too many sign-in requests; retry in ${retryAfter} s`);
  }
}
