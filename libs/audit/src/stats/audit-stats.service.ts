import { auditConfig, type AuditConfig } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';
import { AuditStatsRepository, type FailingKey, type HourlySignIns } from './audit-stats.repository.js';

const HOUR_MS = 3_600_000;
/**
 * An hour is cached once it closed this long ago: `occurred_at` is set at insert, so only a
 * transaction still open at the turn of the hour can add to it, and none stays open this long.
 */
const SETTLE_MS = 5 * 60_000;

export interface SignInOverview {
  since: string;
  until: string;
  /** One entry per hour of the window, oldest first (hours without sign-ins included). */
  hours: { hour: string; succeeded: number; failed: Record<string, number> }[];
  totals: { succeeded: number; failed: number };
  topOrganisations: FailingKey[];
  topAddresses: FailingKey[];
}

/**
 * Sign-in statistics for the security console: per hour, succeeded versus failed by reason, and
 * who fails most. Closed hours never change in an append-only log, so each is read once and kept
 * (per instance); a page view then reads only the hours that are still open, which keeps the
 * overview fast at millions of events. Retention (any instance's) removes events older than
 * `BROKER_AUDIT_RETENTION_DAYS`; when that reaches into the window, the hours it can still remove
 * are never cached but read on each view, so the chart always shows what the log holds.
 */
@Injectable()
export class AuditStatsService {
  private readonly closedHours = new Map<string, HourlySignIns[]>();

  constructor(
    private readonly repository: AuditStatsRepository,
    @Inject(auditConfig.KEY) private readonly config: Pick<AuditConfig, 'retentionDays'>,
  ) {}

  /** The `days` days up to the end of the current hour (UTC). */
  async overview(days = 7, now = new Date()): Promise<SignInOverview> {
    const until = new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS);
    const since = new Date(until.getTime() - days * 24 * HOUR_MS);
    const settled = new Date(Math.floor((now.getTime() - SETTLE_MS) / HOUR_MS) * HOUR_MS);
    // Hours that retention may still empty (those starting before the cutoff, with an hour's margin
    // for a retention pass that runs late) are read live, never cached.
    const keep = this.config.retentionDays;
    const cutoff = keep > 0 ? Math.ceil((now.getTime() - keep * 24 * HOUR_MS) / HOUR_MS) * HOUR_MS + HOUR_MS : 0;
    const cacheFrom = Math.max(since.getTime(), Math.min(cutoff, settled.getTime()));
    for (const key of this.closedHours.keys()) if (Date.parse(key) < cacheFrom) this.closedHours.delete(key);
    const live = cacheFrom > since.getTime() ? await this.repository.hourly(since, new Date(cacheFrom)) : [];
    // Hours not cached yet that are settled: read them in one range query, then cache them.
    let firstMissing: number | null = null;
    for (let t = cacheFrom; t < settled.getTime(); t += HOUR_MS) {
      if (!this.closedHours.has(new Date(t).toISOString())) {
        firstMissing = t;
        break;
      }
    }
    if (firstMissing !== null) {
      const rows = await this.repository.hourly(new Date(firstMissing), settled);
      for (let t = firstMissing; t < settled.getTime(); t += HOUR_MS) {
        this.closedHours.set(new Date(t).toISOString(), []);
      }
      for (const r of rows) this.closedHours.get(new Date(r.hour).toISOString())?.push(r);
    }
    const open = await this.repository.hourly(settled > since ? settled : since, until);
    const [topOrganisations, topAddresses] = await Promise.all([
      this.repository.topFailing('organisation_id', new Date(until.getTime() - 24 * HOUR_MS), until, 10),
      this.repository.topFailing('ip', new Date(until.getTime() - 24 * HOUR_MS), until, 10),
    ]);
    const byHour = new Map<string, SignInOverview['hours'][number]>();
    for (let t = since.getTime(); t < until.getTime(); t += HOUR_MS) {
      const hour = new Date(t).toISOString();
      byHour.set(hour, { hour, succeeded: 0, failed: {} });
    }
    const totals = { succeeded: 0, failed: 0 };
    const add = (r: HourlySignIns) => {
      const bucket = byHour.get(new Date(r.hour).toISOString());
      if (!bucket) return;
      if (r.outcome === 'success') {
        bucket.succeeded += r.count;
        totals.succeeded += r.count;
      } else {
        const reason = r.reason ?? 'unknown';
        bucket.failed[reason] = (bucket.failed[reason] ?? 0) + r.count;
        totals.failed += r.count;
      }
    };
    // Every cached hour is at or after cacheFrom (older ones were dropped above).
    for (const rows of this.closedHours.values()) rows.forEach(add);
    live.forEach(add);
    open.forEach(add);
    return {
      since: since.toISOString(),
      until: until.toISOString(),
      hours: [...byHour.values()],
      totals,
      topOrganisations,
      topAddresses,
    };
  }
}
