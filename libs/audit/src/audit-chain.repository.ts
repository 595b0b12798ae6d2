import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { CHAIN_COLUMNS } from './audit-personal.js';
import type { AuditEventRecord } from './audit-record.js';

/** A recorded full verify as AuditVerifyTrust reads it. */
export interface FullVerifyRecord {
  id: string;
  occurred_at: Date;
  details: Record<string, unknown> | null;
}

/** The row of audit_chain_head: the last link of the chain. */
export interface HeadRow {
  last_seq: string;
  last_id: string | null;
  last_hash: string;
}

/** AuditChainRepository.oldestUnsealedSeconds (exported for the plan check in its spec). */
export const OLDEST_UNSEALED_SQL = `SELECT EXTRACT(EPOCH FROM clock_timestamp() - e.occurred_at)::float8 AS age
   FROM audit_events e WHERE e.hash IS NULL ORDER BY e.id LIMIT 1`;

/**
 * The SQL of the hash chain (issue 18): the sealer, the head, retention, the scheduled full
 * verify's lock and the verify walk's reads. Methods that take an EntityManager run in that
 * caller's transaction (or on its QueryRunner's session), so every transaction boundary and
 * advisory lock stays where AuditChainService and verifyChain put it.
 */
@Injectable()
export class AuditChainRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** pg_try_advisory_xact_lock on `broker.audit.sealer`, `broker.audit.retention` or `broker.audit.checkpoint`. */
  async tryXactLock(m: EntityManager, name: 'sealer' | 'retention' | 'checkpoint'): Promise<boolean> {
    const [lock] = await m.query<{ ok: boolean }[]>(`SELECT pg_try_advisory_xact_lock(hashtext($1::text)) AS ok`, [
      `broker.audit.${name}`,
    ]);
    return lock?.ok ?? false;
  }

  async chainHead(m: EntityManager): Promise<HeadRow | undefined> {
    const [head] = await m.query<HeadRow[]>(
      `SELECT last_seq::text AS last_seq, last_id::text AS last_id, last_hash FROM audit_chain_head WHERE id = 1`,
    );
    return head;
  }

  /** The oldest committed events not sealed yet, in id order. */
  unsealedEvents(m: EntityManager, limit: number): Promise<AuditEventRecord[]> {
    return m.query<AuditEventRecord[]>(
      `SELECT ${CHAIN_COLUMNS} FROM audit_events e WHERE e.hash IS NULL ORDER BY e.id LIMIT $1`,
      [limit],
    );
  }

  /** The owner's function appends exactly these links after the head, or refuses (issue 14). */
  async seal(m: EntityManager, firstSeq: string, prevHash: string, ids: string[], hashes: string[]): Promise<void> {
    await m.query(`SELECT audit_seal($1::bigint, $2::text, $3::bigint[], $4::text[])`, [
      firstSeq,
      prevHash,
      ids,
      hashes,
    ]);
  }

  /**
   * Seconds since the oldest unsealed event was written (null when none waits): the lowest id, which
   * the sealer's next batch starts with. The first entry of the partial index
   * IDX_audit_events_unsealed (id WHERE hash IS NULL), so one probe however many events wait (a
   * min(occurred_at) over all of them grew with the very backlog it measures).
   */
  async oldestUnsealedSeconds(): Promise<number | null> {
    const [row] = await this.dataSource.query<{ age: number }[]>(OLDEST_UNSEALED_SQL);
    return row ? row.age : null;
  }

  /** The scheduled full verify's session lock (on the QueryRunner's connection). */
  async tryFullVerifyLock(m: EntityManager): Promise<boolean> {
    const [lock] = await m.query<{ ok: boolean }[]>(
      `SELECT pg_try_advisory_lock(hashtext('broker.audit.full_verify')) AS ok`,
    );
    return lock?.ok ?? false;
  }

  async unlockFullVerify(m: EntityManager): Promise<void> {
    await m.query(`SELECT pg_advisory_unlock(hashtext('broker.audit.full_verify'))`);
  }

  /**
   * The newest recorded full verifies (`audit.verified`), newest first: only those recorded within
   * the last `withinHours` when given, only intact ones with `intactOnly`. Candidates only: anyone
   * with the runtime role can insert such an event, so AuditVerifyTrust checks each one's proof.
   */
  fullVerifyRecords(
    m: EntityManager,
    filter: { withinHours?: number; intactOnly?: boolean },
    limit: number,
  ): Promise<FullVerifyRecord[]> {
    const params: unknown[] = [limit];
    const where = [`type = 'audit.verified'`, `details->>'mode' = 'full'`];
    if (filter.intactOnly) where.push(`details->>'status' = 'intact'`);
    if (filter.withinHours !== undefined) {
      params.push(filter.withinHours);
      where.push(`occurred_at > now() - make_interval(hours => $2)`);
    }
    return m.query<FullVerifyRecord[]>(
      `SELECT id::text AS id, occurred_at, details FROM audit_events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $1`,
      params,
    );
  }

  /**
   * When the oldest retained event was recorded (null when the log is empty): the lowest id, whose
   * time was taken with it at insert, so that the primary key answers and no scan of the log is needed.
   */
  async oldestEventAt(m: EntityManager): Promise<Date | null> {
    const [row] = await m.query<{ occurred_at: Date }[]>(`SELECT occurred_at FROM audit_events ORDER BY id LIMIT 1`);
    return row?.occurred_at ?? null;
  }

  /**
   * The owner's function removes one batch before the cutoff (and records it): how many, and the
   * anchor it left (null when it removed nothing).
   */
  async applyRetentionBatch(
    m: EntityManager,
    cutoff: Date,
    batch: number,
  ): Promise<{ removed: number; anchor: { first_seq: string; prev_hash: string } | null }> {
    const [r] = await m.query<{ removed: number; last_seq: string | null }[]>(
      `SELECT r_removed::int AS removed, r_last_removed_seq::text AS last_seq FROM audit_apply_retention($1, $2)`,
      [cutoff, batch],
    );
    // The owner's function wrote audit.retention_applied and the anchor in this transaction.
    if (!r || r.removed === 0 || r.last_seq === null) return { removed: 0, anchor: null };
    const [anchor] = await m.query<{ first_seq: string; prev_hash: string }[]>(
      `SELECT first_seq::text AS first_seq, prev_hash FROM audit_chain_anchors WHERE first_seq = $1::bigint + 1`,
      [r.last_seq],
    );
    return { removed: r.removed, anchor: anchor ?? null };
  }

  /** The lowest sealed seq left (where retention starts); null when nothing is sealed. */
  async firstSealedSeq(m: EntityManager): Promise<string | null> {
    const [r] = await m.query<{ seq: string }[]>(
      `SELECT seq::text AS seq FROM audit_events WHERE seq IS NOT NULL ORDER BY seq LIMIT 1`,
    );
    return r?.seq ?? null;
  }

  async newestAnchor(m: EntityManager): Promise<{ first_seq: string; prev_hash: string } | undefined> {
    const [anchor] = await m.query<{ first_seq: string; prev_hash: string }[]>(
      `SELECT first_seq::text AS first_seq, prev_hash FROM audit_chain_anchors ORDER BY first_seq DESC LIMIT 1`,
    );
    return anchor;
  }

  async unsealedCount(m: EntityManager): Promise<number> {
    const [{ unsealed }] = await m.query<[{ unsealed: number }]>(
      `SELECT count(*)::int AS unsealed FROM audit_events WHERE hash IS NULL`,
    );
    return unsealed;
  }

  /** The first seq at or after event `fromId`. */
  async minSeqFrom(m: EntityManager, fromId: string): Promise<string | null | undefined> {
    const [r] = await m.query<{ s: string | null }[]>(
      `SELECT min(seq)::text AS s FROM audit_events WHERE id >= $1 AND seq IS NOT NULL`,
      [fromId],
    );
    return r?.s;
  }

  /** The last seq at or before event `toId`. */
  async maxSeqTo(m: EntityManager, toId: string): Promise<string | null | undefined> {
    const [r] = await m.query<{ s: string | null }[]>(
      `SELECT max(seq)::text AS s FROM audit_events WHERE id <= $1 AND seq IS NOT NULL`,
      [toId],
    );
    return r?.s;
  }

  /** The hash of the event sealed at `seq`, if it is still there. */
  async hashAtSeq(m: EntityManager, seq: bigint): Promise<string | undefined> {
    const [p] = await m.query<{ hash: string }[]>(`SELECT hash FROM audit_events WHERE seq = $1`, [seq.toString()]);
    return p?.hash;
  }

  /**
   * The candidates that explain the anchors: the broker's signed retention proofs
   * (`audit.retention_signed`, believed for their signature, sealed or not) and the
   * `audit.retention_applied` events the owner's function writes (believed only without any
   * trusted key, and only sealed).
   */
  retentionEvents(m: EntityManager): Promise<{ type: string; details: unknown; hash: string | null }[]> {
    return m.query<{ type: string; details: unknown; hash: string | null }[]>(
      `SELECT type, details, hash FROM audit_events
        WHERE type = 'audit.retention_signed' OR (type = 'audit.retention_applied' AND seq IS NOT NULL)`,
    );
  }

  /** One keyset batch of the walk: events with seq in [startSeq, endSeq] after `after`, in seal order. */
  chainBatch(
    m: EntityManager,
    startSeq: bigint,
    endSeq: bigint,
    after: { seq: string; id: string } | null,
    limit: number,
  ): Promise<AuditEventRecord[]> {
    const params: unknown[] = [endSeq.toString(), limit];
    let keyset: string;
    if (after) {
      params.push(after.seq, after.id);
      keyset = `e.seq >= $3 AND NOT (e.seq = $3 AND e.id <= $4)`;
    } else {
      params.push(startSeq.toString());
      keyset = `e.seq >= $3::bigint`;
    }
    return m.query<AuditEventRecord[]>(
      `SELECT ${CHAIN_COLUMNS} FROM audit_events e WHERE ${keyset} AND e.seq <= $1 ORDER BY e.seq, e.id LIMIT $2`,
      params,
    );
  }
}
