import { ClientBuckets, DomainError, FixedWindowCounter } from '@app/common';
import { serverConfig, type ServerConfig } from '@app/config';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';

/**
 * Requests per client (IPv4 address or IPv6 /64; Express `trust proxy` decides the IP) in a fixed
 * one-minute window, per instance; beyond `limit()`, 429 `rate_limited` with Retry-After until the
 * window ends. A limit of 0 lets everything through. The login routes and the console's sign-in
 * start each extend it with their own limit and message (and so their own counts).
 */
@Injectable()
export abstract class PerClientRateLimitGuard implements CanActivate {
  private readonly counter = new FixedWindowCounter(60_000);

  constructor(
    @Inject(serverConfig.KEY) protected readonly config: ServerConfig,
    private readonly buckets: ClientBuckets,
  ) {}

  /** Requests allowed per client and minute (0: no limit). */
  protected abstract limit(): number;

  /** The 429's message. */
  protected abstract refusal(retryAfterSeconds: number): string;

  canActivate(context: ExecutionContext): boolean {
    const limit = this.limit();
    if (limit === 0) return true;
    const http = context.switchToHttp();
    const key = this.buckets.bucket(http.getRequest<Request>());
    if (this.counter.hit(key) <= limit) return true;
    const retryAfter = this.counter.retryAfterSeconds(key);
    http.getResponse<Response>().setHeader('Retry-After', String(retryAfter));
    throw new DomainError('rate_limited', this.refusal(retryAfter));
  }
}
