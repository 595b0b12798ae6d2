import { createHash, timingSafeEqual } from 'node:crypto';
import { AuditService, AuthFailures } from '@app/audit';
import { AdminTokenVerifier } from '@app/cloudentity';
import {
  ADMIN_ROLES_KEY,
  actorOf,
  ClientBuckets,
  DomainError,
  isDomainError,
  type AdminPrincipal,
  type AdminRole,
} from '@app/common';
import { adminConfig, type AdminConfig } from '@app/config';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** TIB's exact 401 message; kept for every admin route so scripts see one answer. */
const AUTH_FAILED = 'Authorization failed';

/**
 * Enforces @AdminRoles on admin routes. Credentials: the TIB secret (raw or `Bearer <secret>`,
 * compared in constant time; acts as `admin`), or an OpenID Connect access token from the
 * configured issuer carrying `broker:admin` / `broker:auditor`. An empty secret never matches.
 * Refusals are audited as `admin.auth_failed`, at most one event per client (IPv4 address or IPv6
 * /64) and reason per 10 s.
 *
 * The failed-authentication throttle (per client: IPv4 address or IPv6 /64) runs after the
 * credentials are checked and only on a failure: valid credentials are never refused by it, so
 * nobody sharing the admin's address (a NAT, a proxy not in BROKER_TRUSTED_PROXIES) can lock the
 * admin out. It bounds the work and the audit volume of bad attempts; guessing is prevented by the
 * secret's length (at least 16 characters, enforced with NODE_ENV=production).
 */
@Injectable()
export class AdminGuard implements CanActivate {
  /** Failed admin authentications per client (per instance), audited. */
  private readonly failures: AuthFailures;

  constructor(
    private readonly reflector: Reflector,
    @Inject(adminConfig.KEY) private readonly config: AdminConfig,
    audit: AuditService,
    private readonly tokens: AdminTokenVerifier,
    private readonly buckets: ClientBuckets,
  ) {
    // Already this worker's share under BROKER_WORKERS (the admin config slice divides it).
    this.failures = new AuthFailures(audit, config.failuresPerMinute);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const roles = this.reflector.getAllAndOverride<AdminRole[] | undefined>(ADMIN_ROLES_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!roles) return true;
    const req = context.switchToHttp().getRequest<Request & { id?: unknown }>();
    const tokensEnabled = this.config.oidc.issuer !== '';
    if (this.config.secret === '' && !tokensEnabled) {
      throw new DomainError(
        'admin_disabled',
        'The admin API is disabled because no secret is configured: set TYK_IB_SECRET (or "Secret" in tib.conf) and restart the broker',
      );
    }
    const client = this.buckets.bucket(req);
    const principal = await this.authenticate(req.get('authorization'), tokensEnabled);
    if (!principal) {
      // After too many failed attempts from one client, a failed attempt is 429 until the minute is over.
      const wait = this.failures.throttled(client);
      if (wait !== null) {
        req.res?.setHeader('Retry-After', String(wait));
        throw new DomainError('rate_limited', `Too many failed admin authentications; retry in ${wait} s`);
      }
      await this.failures.failed(req, client);
      throw new DomainError('unauthorized', AUTH_FAILED);
    }
    (req as unknown as { user: AdminPrincipal }).user = principal;
    if (!roles.some((r) => principal.roles.includes(r))) {
      await this.failures.refused(req, client, 'forbidden', actorOf(principal));
      throw new DomainError('forbidden', `This route needs the role ${roles.join(' or ')}`);
    }
    return true;
  }

  private async authenticate(header: string | undefined, tokensEnabled: boolean): Promise<AdminPrincipal | null> {
    if (!header) return null;
    const bearer = /^Bearer\s+(.+)$/i.exec(header.trim());
    const presented = bearer ? bearer[1] : header;
    // TIB compares the whole header with Secret; the broker also takes it after `Bearer `. Both
    // are compared, so a Secret that itself starts with "Bearer " works as it does in TIB.
    const secret = this.config.secret === '' ? null : digest(this.config.secret);
    if (secret && (timingSafeEqual(digest(presented), secret) || timingSafeEqual(digest(header), secret))) {
      return { id: 'tib-secret', kind: 'secret', roles: ['admin'] };
    }
    if (bearer && tokensEnabled && presented.split('.').length === 3) {
      try {
        const verified = await this.tokens.verify(presented);
        return { id: verified.subject, kind: 'token', roles: verified.roles };
      } catch (error: unknown) {
        // The issuer's discovery or keys are down and the token may be perfectly valid (the
        // verifier refuses what it can without them), so this is a 503, never a 401 audited as a
        // failed login and counted towards the throttle.
        if (isDomainError(error) && error.code === 'unavailable') throw error;
        return null;
      }
    }
    return null;
  }
}
