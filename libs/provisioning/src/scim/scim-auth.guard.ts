import { createHash, timingSafeEqual } from 'node:crypto';
import { AuditService, AuthFailures } from '@app/audit';
import { ClientBuckets } from '@app/common';
import { adminConfig, provisioningConfig, type AdminConfig, type ProvisioningConfig } from '@app/config';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { ScimError } from './scim-error.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export type ScimRequest = Request & { id?: unknown; scimLabel?: string };

/**
 * Bearer tokens from BROKER_SCIM_TOKENS, compared in constant time (SHA-256 of both sides, so
 * neither the length nor the content leaks; only the digests are kept). The caller's label goes on
 * the request for the audit log.
 *
 * Failed attempts are limited like the admin API's (AdminGuard): per client (IPv4 address or IPv6
 * /64), BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE per instance (under BROKER_WORKERS the admin
 * config slice gives this worker's share), then 429. The token is checked first and the limit
 * applies only to a failure, so a valid token is never refused: bad tokens from the IdP's egress
 * address (or from anyone, behind a proxy not in BROKER_TRUSTED_PROXIES) cannot hold back its
 * deprovisioning. Refusals are audited as `admin.auth_failed`, at most one event per client per 10 s.
 */
@Injectable()
export class ScimAuthGuard implements CanActivate {
  private readonly tokens: { label: string; digest: Buffer }[];
  /** Failed SCIM authentications per client (per instance, bounded memory), audited. */
  private readonly failures: AuthFailures;

  constructor(
    @Inject(provisioningConfig.KEY) config: ProvisioningConfig,
    @Inject(adminConfig.KEY) admin: AdminConfig,
    audit: AuditService,
    private readonly buckets: ClientBuckets,
  ) {
    this.tokens = config.scimTokens.map((t) => ({ label: t.label, digest: digest(t.token) }));
    this.failures = new AuthFailures(audit, admin.failuresPerMinute, 'scim');
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ScimRequest>();
    if (this.tokens.length === 0) {
      throw new ScimError(503, null, 'SCIM is off: set BROKER_SCIM_TOKENS to enable /scim/v2');
    }
    const client = this.buckets.bucket(req);
    const label = this.labelOf(req.get('authorization'));
    if (label !== null) {
      req.scimLabel = label;
      return true;
    }
    // After too many failed attempts from one client, a failed attempt is 429 until the minute is over.
    const wait = this.failures.throttled(client);
    if (wait !== null) {
      req.res?.setHeader('Retry-After', String(wait));
      throw new ScimError(429, null, 'Too many failed SCIM authentications; retry later');
    }
    await this.failures.failed(req, client);
    throw new ScimError(401, null, 'A valid SCIM bearer token is required');
  }

  /** The label of the presented token, or null. */
  private labelOf(authorization: string | undefined): string | null {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const presented = bearer ? digest(bearer[1]) : null;
    // Every configured token is compared, so the time does not tell which one (or none) matched.
    let label: string | null = null;
    for (const t of this.tokens) {
      if (presented && timingSafeEqual(presented, t.digest) && label === null) label = t.label;
    }
    return label;
  }
}
