import { DomainError, type AdminRole } from '@app/common';
import { adminConfig, oidcConfig, type AdminConfig, type OidcConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { JwksCache, KeySetUnavailableError } from './jwks.cache.js';
import { JwtRejectedError, locallyRejected, verifySignedJwt } from './jwt-verification.js';
import { OidcDiscoveryService } from './oidc-discovery.service.js';

const ROLE_VALUES: Record<string, AdminRole> = { 'broker:admin': 'admin', 'broker:auditor': 'auditor' };

/** Roles from a claim that is an array of strings or a space-separated string (like `scope`). */
export function rolesFromClaim(value: unknown): AdminRole[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(' ') : [];
  const roles = new Set<AdminRole>();
  for (const item of items) {
    if (typeof item === 'string' && Object.hasOwn(ROLE_VALUES, item)) roles.add(ROLE_VALUES[item]);
  }
  return [...roles];
}

/**
 * Verifies security teams' bearer tokens for the admin API: JWT access tokens from the issuer in
 * BROKER_ADMIN_OIDC_ISSUER (Cloudentity or the dev IdP), checked against that issuer's discovery
 * `jwks_uri` (the same discovery and key caches as logins), allow-listed algorithms, exact
 * issuer, BROKER_ADMIN_OIDC_AUDIENCE, `exp` and `sub` required. Roles come from
 * BROKER_ADMIN_ROLES_CLAIM: `broker:admin` → admin, `broker:auditor` → auditor.
 */
@Injectable()
export class AdminTokenVerifier {
  private readonly logger = new Logger(AdminTokenVerifier.name);

  constructor(
    private readonly discovery: OidcDiscoveryService,
    private readonly jwks: JwksCache,
    @Inject(adminConfig.KEY) private readonly admin: AdminConfig,
    @Inject(oidcConfig.KEY) private readonly oidc: OidcConfig,
  ) {}

  /** Whether bearer tokens are accepted at all (an issuer is configured). */
  get enabled(): boolean {
    return this.admin.oidc.issuer !== '';
  }

  /**
   * The token's subject and broker roles. Throws DomainError('unauthorized') when token
   * verification is disabled or the token is not good (signature, issuer, audience, expiry), and
   * DomainError('unavailable') when the issuer's metadata or keys cannot be fetched and the token
   * could still be good. What can be refused without the issuer (a malformed token, an alg not
   * allowed, a signature of an impossible length, expired, another issuer or audience by its own
   * claims) is refused first, so an outage never spares junk the failure it is.
   */
  async verify(token: string): Promise<{ subject: string; roles: AdminRole[] }> {
    const { issuer, audience, rolesClaim, allowInsecureHttp } = this.admin.oidc;
    if (issuer === '') {
      throw new DomainError('unauthorized', 'Bearer tokens are not accepted: no admin token issuer is configured');
    }
    const requiredClaims = ['iss', 'sub', 'exp'];
    // Discovery gives the issuer as configured, or with one terminating slash (see the discovery check).
    const base = issuer.replace(/\/+$/, '');
    const rejected = locallyRejected(token, {
      issuers: [base, `${base}/`],
      audience,
      requiredClaims,
      clockToleranceSeconds: this.oidc.clockToleranceSeconds,
    });
    if (rejected) throw this.rejected(rejected);
    let doc;
    try {
      doc = await this.discovery.get(`${base}/.well-known/openid-configuration`, {
        allowInsecureHttp,
      });
    } catch {
      throw new DomainError('unavailable', "The admin token issuer's configuration could not be fetched");
    }
    try {
      const claims = await verifySignedJwt(token, this.jwks.keySet(doc.jwks_uri), {
        issuer: doc.issuer,
        audience,
        requiredClaims,
        clockToleranceSeconds: this.oidc.clockToleranceSeconds,
      });
      return { subject: claims.sub as string, roles: rolesFromClaim(claims[rolesClaim]) };
    } catch (error: unknown) {
      if (error instanceof KeySetUnavailableError) {
        throw new DomainError('unavailable', "The admin token issuer's signing keys could not be fetched");
      }
      throw this.rejected(error instanceof JwtRejectedError ? error.reason : 'invalid');
    }
  }

  private rejected(reason: string): DomainError {
    this.logger.warn(`Admin bearer token rejected: ${reason}`);
    return new DomainError('unauthorized', 'The bearer token is not valid for the admin API');
  }
}
