import { FixedWindowCounter, RepeatSuppressor, requestContextOf } from '@app/common';
import { Logger } from '@nestjs/common';
import type { Request } from 'express';
import type { AuditService } from './audit.service.js';

/**
 * The failed authentications of one surface (the admin API, SCIM, the metrics token): counted per
 * client (an IPv4 address or IPv6 /64, ClientBuckets) in the current minute for the throttle, and
 * audited as `admin.auth_failed`, at most one event per client and reason per 10 s, each saying how
 * many refusals it stands for. One instance per guard; memory is bounded.
 */
export class AuthFailures {
  private readonly logger = new Logger(AuthFailures.name);
  private readonly counts = new FixedWindowCounter(60_000);
  private readonly audits = new RepeatSuppressor(10_000);

  /**
   * @param perMinute failures a client may have per minute before `throttled` says wait (0: no
   *   throttle); BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE as the admin config slice gives it
   * @param api `details.api` of the events (none for the admin API itself)
   */
  constructor(
    private readonly audit: AuditService,
    private readonly perMinute: number,
    private readonly api?: string,
  ) {}

  /** Whole seconds until the client may fail again, when it has used up this minute's failures. */
  throttled(client: string): number | null {
    if (this.perMinute === 0 || this.counts.count(client) < this.perMinute) return null;
    return this.counts.retryAfterSeconds(client);
  }

  /** Counts a failed attempt towards the throttle and audits it. Never throws. */
  async failed(req: Request & { id?: unknown }, client: string): Promise<void> {
    this.counts.hit(client);
    await this.refused(req, client, 'unauthorized', 'anonymous');
  }

  /**
   * Audits a refusal without counting it (a valid credential without the role: `forbidden`).
   * Never throws: an audit outage must not turn a refusal into a 500; it is logged.
   */
  async refused(
    req: Request & { id?: unknown },
    client: string,
    reason: 'unauthorized' | 'forbidden',
    actor: string,
  ): Promise<void> {
    // Per client bucket like the throttle, not per address: an IPv6 client picks any address in
    // its /64, and one event per address would let it flood the audit log.
    const admitted = this.audits.admit(`${client}|${reason}`);
    if (!admitted) return;
    const details = {
      ...(this.api ? { api: this.api } : {}),
      ...(admitted.suppressedSinceLast ? { suppressedSinceLast: admitted.suppressedSinceLast } : {}),
    };
    try {
      await this.audit.record({
        type: 'admin.auth_failed',
        outcome: 'failure',
        reason,
        actor,
        target: `${req.method} ${req.path}`.slice(0, 300),
        ...requestContextOf(req),
        details: Object.keys(details).length > 0 ? details : null,
      });
    } catch (e) {
      this.logger.warn({ reason: (e as Error).message }, 'could not audit admin.auth_failed');
    }
  }
}
