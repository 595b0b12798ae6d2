import { createHash, timingSafeEqual } from 'node:crypto';
import { AuditService } from '@app/audit';
import { adminConfig, provisioningConfig, type AdminConfig, type ProvisioningConfig } from '@app/config';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { ScimError } from './scim-error.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const WINDOW_MS = 60_000;

export type ScimRequest = Request & { id?: unknown; scimLabel?: string };

/**
 * Bearer tokens from BROKER_SCIM_TOKENS, compared in constant time (SHA-256 of both sides, so
 * neither the length nor the content leaks; only the digests are kept). The caller's label goes on
 * the request for the audit log. Failed attempts per client IP are limited like the admin API's
 * (BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE, per instance; under BROKER_WORKERS the admin config
 * slice gives this worker's share): over the limit, 429.
 */
@Injectable()
export class ScimAuthGuard implements CanActivate {
  private readonly tokens: { label: string; digest: Buffer }[];
  private readonly failures = new Map<string, { start: number; count: number }>();

  constructor(
    @Inject(provisioningConfig.KEY) config: ProvisioningConfig,
    @Inject(adminConfig.KEY) private readonly admin: AdminConfig,
    private readonly audit: AuditService,
  ) {
    this.tokens = config.scimTokens.map((t) => ({ label: t.label, digest: digest(t.token) }));
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ScimRequest>();
    if (this.tokens.length === 0) {
      throw new ScimError(503, null, 'SCIM is off: set BROKER_SCIM_TOKENS to enable /scim/v2');
    }
    const client = req.ip ?? '';
    const now = Date.now();
    const window = this.failures.get(client);
    const limit = this.admin.failuresPerMinute;
    const throttled = limit > 0 && window !== undefined && now - window.start < WINDOW_MS && window.count >= limit;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    const presented = bearer ? digest(bearer[1]) : null;
    // Every configured token is compared, so the time does not tell which one (or none) matched.
    let label: string | null = null;
    for (const t of this.tokens) {
      if (presented && timingSafeEqual(presented, t.digest) && label === null) label = t.label;
    }
    if (label !== null && !throttled) {
      req.scimLabel = label;
      return true;
    }
    if (throttled) {
      req.res?.setHeader('Retry-After', String(Math.ceil((window.start + WINDOW_MS - now) / 1000)));
      throw new ScimError(429, null, 'Too many failed SCIM authentications; retry later');
    }
    if (!window || now - window.start >= WINDOW_MS) this.failures.set(client, { start: now, count: 1 });
    else window.count++;
    if (this.failures.size > 10_000) this.failures.clear();
    await this.audit
      .record({
        type: 'admin.auth_failed',
        outcome: 'failure',
        reason: 'unauthorized',
        actor: 'anonymous',
        target: `${req.method} ${req.path}`.slice(0, 300),
        ip: req.ip ?? null,
        userAgent: req.get('user-agent') ?? null,
        requestId: typeof req.id === 'string' ? req.id : null,
        details: { api: 'scim' },
      })
      .catch(() => undefined);
    throw new ScimError(401, null, 'A valid SCIM bearer token is required');
  }
}
