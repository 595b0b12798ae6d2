import type { JWK } from 'jose';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { DURABLE_COMMIT } from '@app/database';
import { ISO_US } from './audit-personal.js';
import type { AuditCheckpoint } from './audit-verifier.js';

export const CHECKPOINT_COLUMNS = `c.first_seq::text AS first_seq, c.last_seq::text AS last_seq, c.last_hash,
  c.prev_checkpoint_hash, c.event_count::text AS event_count, c.kid, c.jws,
  to_char(c.created_at AT TIME ZONE 'UTC', ${ISO_US}) AS created_at`;

/**
 * The SQL of the signed checkpoints and their public keys (issue 18). Methods that take an
 * EntityManager run in the checkpoint run's transaction; AuditCheckpointsService keeps the rules.
 */
@Injectable()
export class AuditCheckpointsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Publishes a signing key's public half (once per kid). */
  async publishSigningKey(kid: string, publicJwk: JWK): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO audit_signing_keys (kid, jwk) VALUES ($1, $2) ON CONFLICT (kid) DO NOTHING`,
      [kid, JSON.stringify(publicJwk)],
    );
  }

  /** The newest checkpoint with its age in milliseconds. */
  async lastCheckpoint(m: EntityManager): Promise<(AuditCheckpoint & { age_ms: number }) | undefined> {
    const [last] = await m.query<(AuditCheckpoint & { age_ms: number })[]>(
      `SELECT ${CHECKPOINT_COLUMNS}, (EXTRACT(EPOCH FROM clock_timestamp() - c.created_at) * 1000)::float8 AS age_ms
             FROM audit_checkpoints c ORDER BY c.last_seq DESC LIMIT 1`,
    );
    return last;
  }

  /** Commits durably (DURABLE_COMMIT): the checkpoint's file is written once this commit returns. */
  async insertCheckpoint(m: EntityManager, values: unknown[]): Promise<AuditCheckpoint | undefined> {
    const [row] = await m.query<(AuditCheckpoint & { durable_commit?: string })[]>(
      `INSERT INTO audit_checkpoints AS c (first_seq, last_seq, last_hash, prev_checkpoint_hash, event_count, kid, jws)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${CHECKPOINT_COLUMNS}, ${DURABLE_COMMIT}`,
      values,
    );
    if (!row) return undefined;
    const { durable_commit: _durable, ...checkpoint } = row;
    return checkpoint;
  }

  /** When the oldest sealed event still kept happened (ISO 8601, UTC); undefined when none is sealed. */
  async oldestSealedAt(m: EntityManager): Promise<string | undefined> {
    const [row] = await m.query<{ at: string }[]>(
      `SELECT to_char(e.occurred_at AT TIME ZONE 'UTC', ${ISO_US}) AS at
         FROM audit_events e WHERE e.seq IS NOT NULL ORDER BY e.seq LIMIT 1`,
    );
    return row?.at;
  }

  /** The JWS of the checkpoint ending at `lastSeq` and of every later one, oldest first. */
  async jwsFrom(m: EntityManager, lastSeq: bigint): Promise<string[]> {
    const rows = await m.query<{ jws: string }[]>(
      `SELECT c.jws FROM audit_checkpoints c WHERE c.last_seq >= $1 ORDER BY c.last_seq`,
      [lastSeq.toString()],
    );
    return rows.map((r) => r.jws);
  }

  /**
   * The head's seq, the newest checkpoint's last seq, and how long ago that checkpoint was made (or,
   * without one, how long ago the oldest sealed event happened), in seconds.
   */
  async coverage(): Promise<{ head_seq: string | null; checkpoint_seq: string | null; age_s: number | null }> {
    const [row] = await this.dataSource.query<
      { head_seq: string | null; checkpoint_seq: string | null; age_s: number | null }[]
    >(
      `SELECT h.last_seq::text AS head_seq, c.last_seq::text AS checkpoint_seq,
              EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(c.created_at,
                (SELECT e.occurred_at FROM audit_events e WHERE e.seq IS NOT NULL ORDER BY e.seq LIMIT 1)))::float8 AS age_s
         FROM (SELECT 1) one
         LEFT JOIN audit_chain_head h ON h.id = 1
         LEFT JOIN LATERAL (SELECT last_seq, created_at FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1) c ON true`,
    );
    return row ?? { head_seq: null, checkpoint_seq: null, age_s: null };
  }

  /** Every checkpoint, oldest first. */
  allCheckpoints(m: EntityManager | DataSource = this.dataSource): Promise<AuditCheckpoint[]> {
    return m.query<AuditCheckpoint[]>(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints c ORDER BY c.last_seq`);
  }

  /** Up to `limit` checkpoints before `before` (a last_seq), newest first. */
  checkpointPage(
    limit: number,
    before: string | null,
    m: EntityManager | DataSource = this.dataSource,
  ): Promise<AuditCheckpoint[]> {
    return m.query<AuditCheckpoint[]>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints c
          ${before !== null ? 'WHERE c.last_seq < $2::bigint' : ''} ORDER BY c.last_seq DESC LIMIT $1`,
      before !== null ? [limit, before] : [limit],
    );
  }

  /**
   * The published keys that signed a checkpoint still in the table, oldest first. Any row may be
   * there (the runtime role can insert them), so only the kids the checkpoints name are read: a
   * flood of other rows costs verify nothing.
   */
  checkpointKeys(m: EntityManager | DataSource = this.dataSource): Promise<{ kid: string; jwk: JWK }[]> {
    return m.query<{ kid: string; jwk: JWK }[]>(
      `SELECT k.kid, k.jwk FROM audit_signing_keys k
        WHERE k.kid IN (SELECT DISTINCT c.kid FROM audit_checkpoints c) ORDER BY k.created_at, k.kid`,
    );
  }

  /**
   * At most `limit` published keys whose kid is not in `trusted`, newest first (an unexpected new
   * one is what an operator looks for), and whether there are more.
   */
  async untrustedKeys(
    trusted: string[],
    limit: number,
    m: EntityManager | DataSource = this.dataSource,
  ): Promise<{ rows: { kid: string; jwk: unknown }[]; more: boolean }> {
    const rows = await m.query<{ kid: string; jwk: unknown }[]>(
      `SELECT kid, jwk FROM audit_signing_keys WHERE NOT (kid = ANY($1::text[]))
        ORDER BY created_at DESC, kid LIMIT $2`,
      [trusted, limit + 1],
    );
    return { rows: rows.slice(0, limit), more: rows.length > limit };
  }
}
