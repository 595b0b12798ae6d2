import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** Sign-ins of one hour with one outcome and reason. */
export interface HourlySignIns {
  /** Start of the hour, ISO-8601 UTC. */
  hour: string;
  outcome: 'success' | 'failure';
  /** The failure's reason code; null for successes. */
  reason: string | null;
  count: number;
}

export interface FailingKey {
  key: string;
  count: number;
}

const LOGIN_TYPES = `e.type IN ('login.succeeded', 'login.failed')`;

/** The aggregates of the console's overview, over the partial index of login events. */
@Injectable()
export class AuditStatsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async hourly(since: Date, until: Date): Promise<HourlySignIns[]> {
    const rows = await this.dataSource.query<(Omit<HourlySignIns, 'count'> & { count: string })[]>(
      `SELECT to_char(date_trunc('hour', e.occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"') AS hour,
              e.outcome, CASE WHEN e.outcome = 'failure' THEN e.reason END AS reason, count(*)::text AS count
         FROM audit_events e
        WHERE ${LOGIN_TYPES} AND e.occurred_at >= $1 AND e.occurred_at < $2
        GROUP BY 1, 2, 3`,
      [since, until],
    );
    return rows.map((r) => ({ ...r, count: Number(r.count) }));
  }

  /**
   * The organisations or client addresses with the most failed logins in the window. An event's
   * address lives in `audit_event_personal` (erasable, outside the chain) since issue 14; events
   * sealed before that keep it in `audit_events.ip`, so both places are read, as the API does.
   */
  async topFailing(column: 'organisation_id' | 'ip', since: Date, until: Date, limit: number): Promise<FailingKey[]> {
    const expr = column === 'ip' ? 'host(coalesce(e.ip, p.ip))' : 'e.organisation_id';
    const join = column === 'ip' ? 'LEFT JOIN audit_event_personal p ON p.event_id = e.id' : '';
    const rows = await this.dataSource.query<{ key: string; count: string }[]>(
      `SELECT ${expr} AS key, count(*)::text AS count
         FROM audit_events e ${join}
        WHERE ${LOGIN_TYPES} AND e.outcome = 'failure' AND e.occurred_at >= $1 AND e.occurred_at < $2
          AND ${expr} IS NOT NULL
        GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT $3`,
      [since, until, limit],
    );
    return rows.map((r) => ({ key: r.key, count: Number(r.count) }));
  }
}
