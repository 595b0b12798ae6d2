import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { RECORD_COLUMNS, type AuditEventRecord } from '../audit-record.js';

/** The stream's cursor row: where delivery stands and how the last attempt went. */
export interface AuditStreamCursor {
  /** Chain position (`seq`) of the last delivered event; 0 before the first delivery. */
  last_seq: string;
  last_event_id: string | null;
  delivered_at: string | null;
  attempted_at: string | null;
  consecutive_failures: number;
  last_error: string | null;
  /** The sender's HMAC over (last_seq, last_event_id); see StreamCursorMac. */
  mac: string | null;
  /** The position the upgrade migration found, until the first MAC is written. */
  unsigned_seq: string | null;
  unsigned_event_id: string | null;
  /** When the sender last found the cursor moved by someone else, and the position it found. */
  tampered_at: string | null;
  tampered_seq: string | null;
  /** Last seq of the batch posted but not acknowledged: the retry re-sends exactly up to it. */
  pending_last_seq: string | null;
  /** The sender's HMAC over (last_seq, last_event_id, pending_last_seq); see StreamCursorMac.signPending. */
  pending_mac: string | null;
}

const CURSOR_COLUMNS = `last_seq::text AS last_seq, last_event_id::text AS last_event_id,
  to_char(delivered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS delivered_at,
  to_char(attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS attempted_at,
  consecutive_failures, last_error, mac, unsigned_seq::text AS unsigned_seq,
  unsigned_event_id::text AS unsigned_event_id,
  to_char(tampered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS tampered_at,
  tampered_seq::text AS tampered_seq, pending_last_seq::text AS pending_last_seq, pending_mac`;

/** Every statement of the SIEM stream: the cursor (also the lease) and the events after it. */
@Injectable()
export class AuditStreamRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Runs `work` in one transaction holding the cursor row `FOR UPDATE SKIP LOCKED`: the lease
   * that lets one replica send at a time. Resolves null at once when another replica holds it.
   * A sender that dies mid-batch loses its connection, so Postgres rolls back and frees the row,
   * and the batch is sent again by whoever takes it next (at least once).
   */
  withLease<T>(work: (m: EntityManager, cursor: AuditStreamCursor) => Promise<T>): Promise<T | null> {
    return this.dataSource.transaction(async (m) => {
      const [cursor] = await m.query<AuditStreamCursor[]>(
        `SELECT ${CURSOR_COLUMNS} FROM audit_stream_cursor WHERE id = 1 FOR UPDATE SKIP LOCKED`,
      );
      return cursor ? work(m, cursor) : null;
    });
  }

  /**
   * The next events in chain (seal) order after `afterSeq`. Only sealed events have a position,
   * and the sealer appends each committed event exactly once after every earlier one, so reading
   * by `seq` never skips an event whose transaction commits late (ids can commit out of order).
   */
  nextBatch(
    m: EntityManager,
    afterSeq: string,
    limit: number,
    upToSeq: string | null = null,
  ): Promise<AuditEventRecord[]> {
    return m.query<AuditEventRecord[]>(
      `SELECT ${RECORD_COLUMNS} FROM audit_events e
        WHERE e.seq > $1::bigint AND ($3::bigint IS NULL OR e.seq <= $3::bigint) ORDER BY e.seq LIMIT $2`,
      [afterSeq, limit, upToSeq],
    );
  }

  /** Moves the cursor to the last event of an acknowledged batch, with its MAC. */
  async delivered(m: EntityManager, last: AuditEventRecord, mac: string, pendingMac: string): Promise<void> {
    await m.query(
      `UPDATE audit_stream_cursor
          SET last_seq = $1::bigint, last_event_id = $2::bigint, mac = $3, delivered_at = now(), attempted_at = now(),
              consecutive_failures = 0, last_error = NULL, pending_last_seq = NULL, pending_mac = $4
        WHERE id = 1 AND last_seq < $1::bigint`,
      [last.seq, last.id, mac, pendingMac],
    );
  }

  /** Signs the position as it stands (the unsigned cursor the previous version left). */
  async sign(m: EntityManager, mac: string): Promise<void> {
    await m.query(`UPDATE audit_stream_cursor SET mac = $1 WHERE id = 1`, [mac]);
  }

  /** Re-signs the retry bound as it stands (signed with the secret before a rotation). */
  async signPending(m: EntityManager, pendingMac: string): Promise<void> {
    await m.query(`UPDATE audit_stream_cursor SET pending_mac = $1 WHERE id = 1`, [pendingMac]);
  }

  /**
   * After a cursor moved by someone else: back to a position the sender can vouch for, signed,
   * noting when and where it was found (capped at the newest sealed event, so a cursor moved far
   * beyond the log still counts as caught up once the resend reaches the end).
   */
  async resumeAfterTamper(
    m: EntityManager,
    found: AuditStreamCursor,
    resume: { seq: string; eventId: string | null; mac: string; pendingMac: string },
  ): Promise<void> {
    await m.query(
      `UPDATE audit_stream_cursor
          SET last_seq = $1::bigint, last_event_id = $2::bigint, mac = $3, tampered_at = now(), pending_last_seq = NULL,
              tampered_seq = LEAST($4::bigint, COALESCE((SELECT max(seq) FROM audit_events), 0)), pending_mac = $5
        WHERE id = 1`,
      [resume.seq, resume.eventId, resume.mac, found.last_seq, resume.pendingMac],
    );
  }

  /**
   * After a retry bound written (or cleared) by someone else: replaced by the one the sender knows
   * at this position, else dropped (the next batch starts after the signed position as usual),
   * signed, and the detection noted as for a moved cursor.
   */
  async resetTamperedPending(m: EntityManager, pendingLastSeq: string | null, pendingMac: string): Promise<void> {
    await m.query(
      `UPDATE audit_stream_cursor SET pending_last_seq = $1::bigint, pending_mac = $2, tampered_at = now() WHERE id = 1`,
      [pendingLastSeq, pendingMac],
    );
  }

  /** Records a failed post of the batch ending at `lastSeq`, which the retry re-sends exactly. */
  async failed(m: EntityManager, error: string, lastSeq: string, pendingMac: string): Promise<void> {
    await m.query(
      `UPDATE audit_stream_cursor
          SET attempted_at = now(), consecutive_failures = consecutive_failures + 1, last_error = $1,
              pending_last_seq = $2::bigint, pending_mac = $3
        WHERE id = 1`,
      [error.slice(0, 500), lastSeq, pendingMac],
    );
  }

  /** The cursor without waiting for the lease (a plain read sees the last committed state). */
  async cursor(m: EntityManager | DataSource = this.dataSource): Promise<AuditStreamCursor | null> {
    const [row] = await m.query<AuditStreamCursor[]>(`SELECT ${CURSOR_COLUMNS} FROM audit_stream_cursor WHERE id = 1`);
    return row ?? null;
  }

  /**
   * When the first sealed event after `afterSeq` (the first one the SIEM has not received)
   * happened; null when there is none. Retention keeps it and everything sealed after it.
   */
  async firstUndeliveredAt(afterSeq: string): Promise<Date | null> {
    const [row] = await this.dataSource.query<{ occurred_at: Date }[]>(
      `SELECT e.occurred_at FROM audit_events e WHERE e.seq > $1::bigint ORDER BY e.seq LIMIT 1`,
      [afterSeq],
    );
    return row?.occurred_at ?? null;
  }

  /**
   * Age in seconds of the oldest event the SIEM has not received: the first sealed event after
   * the cursor, or an event not sealed yet (it will be streamed after sealing); 0 when none.
   * Two index lookups (the unique `seq` index and the partial index of unsealed events).
   */
  async lagSeconds(): Promise<number> {
    const [row] = await this.dataSource.query<{ lag: number }[]>(
      `SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - LEAST(
          (SELECT e.occurred_at FROM audit_events e, audit_stream_cursor c
            WHERE c.id = 1 AND e.seq > c.last_seq ORDER BY e.seq LIMIT 1),
          (SELECT e.occurred_at FROM audit_events e WHERE e.hash IS NULL ORDER BY e.id LIMIT 1))), 0)::float8 AS lag`,
    );
    return Math.max(0, row?.lag ?? 0);
  }
}
