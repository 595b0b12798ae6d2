import { AuditService, AuthFailures } from '@app/audit';
import { ClientBuckets, DomainError } from '@app/common';
import { adminConfig, serverConfig, type AdminConfig, type ServerConfig } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { MetricsToken } from './metrics-token.js';

/**
 * `BROKER_METRICS_TOKEN` for `/metrics` and the details of `/health/ready`, with the admin API's
 * and SCIM's handling of failures: a wrong (or, on `/metrics`, missing) token is counted per client
 * (IPv4 address or IPv6 /64) and audited as `admin.auth_failed` with `details.api: "metrics"`, at
 * most one event per client per 10 s. Past BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE failures a
 * client's further failures on `/metrics` get 429; a valid token is never refused.
 *
 * `/health/ready` without an Authorization header is a load balancer's probe: neither counted nor
 * audited, it gets the reduced body as before. With a wrong token it still gets the reduced body
 * (counted and audited), never a 429: a probe with a stale token must not take the instance out
 * of rotation, and the status it reads is open to anyone anyway.
 */
@Injectable()
export class MetricsTokenGate {
  private readonly token: MetricsToken;
  /** Failed metrics-token attempts per client (per instance, bounded memory), audited. */
  private readonly failures: AuthFailures;

  constructor(
    @Inject(serverConfig.KEY) server: ServerConfig,
    @Inject(adminConfig.KEY) admin: AdminConfig,
    audit: AuditService,
    private readonly buckets: ClientBuckets,
  ) {
    this.token = new MetricsToken(server.metrics.token);
    // Already this worker's share under BROKER_WORKERS (the admin config slice divides it).
    this.failures = new AuthFailures(audit, admin.failuresPerMinute, 'metrics');
  }

  /**
   * Whether the request carries the token (always true when none is configured). On `metrics`
   * a throttled client's failure throws 429 (DomainError rate_limited).
   */
  async admits(req: Request & { id?: unknown }, surface: 'metrics' | 'health'): Promise<boolean> {
    const authorization = req.get('authorization');
    if (this.token.accepts(authorization)) return true;
    if (surface === 'health' && authorization === undefined) return false;
    const client = this.buckets.bucket(req);
    const wait = surface === 'metrics' ? this.failures.throttled(client) : null;
    if (wait !== null) {
      req.res?.setHeader('Retry-After', String(wait));
      throw new DomainError('rate_limited', `Too many failed metrics authentications; retry in ${wait} s`);
    }
    await this.failures.failed(req, client);
    return false;
  }
}
