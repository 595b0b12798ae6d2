import { DomainError } from '@app/common';
import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';

const WINDOW_MS = 60_000;
const MAX_TRACKED_CLIENTS = 100_000;

/**
 * Requests to the login routes per client IP (Express `trust proxy` decides the IP) in a fixed
 * one-minute window, per instance; beyond config.rateLimit.loginPerMinute, 429 `rate_limited`
 * with Retry-After until the window ends. 0 disables it.
 *
 * Not @nestjs/throttler: that package is CommonJS and requires the ESM-only @nestjs/common, which
 * jest's module runtime cannot load on Node 20, so every e2e suite that boots the broker failed.
 */
@Injectable()
export class LoginRateLimitGuard implements CanActivate {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(@Inject(BROKER_CONFIG) private readonly config: BrokerConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const limit = this.config.rateLimit.loginPerMinute;
    if (limit === 0) return true;
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const key = req.ip ?? '';
    const now = Date.now();
    let entry = this.windows.get(key);
    if (!entry || now - entry.start >= WINDOW_MS) {
      if (!entry && this.windows.size >= MAX_TRACKED_CLIENTS) this.sweep(now);
      entry = { start: now, count: 0 };
      this.windows.set(key, entry);
    }
    entry.count++;
    if (entry.count <= limit) return true;
    const retryAfter = Math.max(1, Math.ceil((entry.start + WINDOW_MS - now) / 1000));
    http.getResponse<Response>().setHeader('Retry-After', String(retryAfter));
    throw new DomainError('rate_limited', `Too many sign-in requests; retry in ${retryAfter} s`);
  }

  /** Drops finished windows; if every client is still inside its window, starts over. */
  private sweep(now: number): void {
    for (const [key, entry] of this.windows) if (now - entry.start >= WINDOW_MS) this.windows.delete(key);
    if (this.windows.size >= MAX_TRACKED_CLIENTS) this.windows.clear();
  }
}
