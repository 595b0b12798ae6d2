import type { PortalSyncState, SealedToken } from '@app/developers';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

export type OutboxAction = 'deactivate' | 'reactivate' | 'delete';

/** A claimed outbox row: the work, and the version it was claimed at. */
export interface OutboxWork {
  developerId: string;
  action: OutboxAction;
  portalUserId: string | null;
  subject: string | null;
  email: string | null;
  /** An erasure's tokens, still sealed, until revoked. */
  tokens: SealedToken[] | null;
  version: number;
  attempts: number;
  actor: string | null;
}

interface WorkRow {
  developer_id: string;
  action: OutboxAction;
  portal_user_id: string | null;
  subject: string | null;
  email: string | null;
  tokens: SealedToken[] | null;
  version: number;
  attempts: number;
  actor: string | null;
}

/** UPDATE answers `[rows, rowCount]` through TypeORM; the count is what matters here. */
function affected(result: unknown): number {
  return Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
}

/** All SQL of the `deprovisioning_outbox` table (see the migration CreateDeprovisioningOutbox). */
@Injectable()
export class DeprovisioningRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Records the latest wish for a developer in the caller's transaction: a new version, due now.
   * A worker holding the previous version's lease finishes it and then sees the new version.
   * An erasure's `delete` is the last word: a later block or unblock (an admin's, SCIM's) changes
   * nothing, pending or done, since deactivating or reactivating instead would leave the erased
   * person's portal account in place, or bring it back.
   */
  async enqueue(
    m: EntityManager,
    work: {
      developerId: string;
      action: OutboxAction;
      portalUserId: string | null;
      subject: string | null;
      email: string | null;
      tokens: SealedToken[] | null;
      actor: string;
    },
  ): Promise<void> {
    // The email only while no portal user id is known (a previous wish may have found it); tokens
    // an earlier erasure brought and not yet revoked stay whatever the new wish.
    await m.query(
      `INSERT INTO deprovisioning_outbox (developer_id, action, portal_user_id, subject, email, tokens, actor)
            VALUES ($1, $2, $3, $4, $6, $7::jsonb, $5)
       ON CONFLICT (developer_id) DO UPDATE SET
         action = EXCLUDED.action,
         portal_user_id = COALESCE(EXCLUDED.portal_user_id, deprovisioning_outbox.portal_user_id),
         subject = EXCLUDED.subject,
         email = CASE WHEN COALESCE(EXCLUDED.portal_user_id, deprovisioning_outbox.portal_user_id) IS NULL
                      THEN COALESCE(EXCLUDED.email, deprovisioning_outbox.email) END,
         tokens = COALESCE(EXCLUDED.tokens, deprovisioning_outbox.tokens),
         actor = EXCLUDED.actor,
         state = 'pending', version = deprovisioning_outbox.version + 1, attempts = 0,
         next_attempt_at = now(), last_error = NULL, done_at = NULL, updated_at = now()
       WHERE deprovisioning_outbox.action <> 'delete' OR EXCLUDED.action = 'delete'`,
      [
        work.developerId,
        work.action,
        work.portalUserId,
        work.subject,
        work.actor.slice(0, 300),
        work.email,
        work.tokens ? JSON.stringify(work.tokens) : null,
      ],
    );
  }

  /**
   * Claims up to `limit` due rows for `leaseSeconds` (FOR UPDATE SKIP LOCKED: two instances never
   * take the same row; a crashed instance's lease simply runs out). Counts the attempt.
   */
  async claim(limit: number, leaseSeconds: number): Promise<OutboxWork[]> {
    const result = await this.dataSource.query<unknown>(
      `WITH due AS (
         SELECT developer_id FROM deprovisioning_outbox
          WHERE state IN ('pending', 'failed') AND next_attempt_at <= now()
            AND (lease_until IS NULL OR lease_until < now())
          ORDER BY next_attempt_at LIMIT $1
          FOR UPDATE SKIP LOCKED)
       UPDATE deprovisioning_outbox o
          SET lease_until = now() + make_interval(secs => $2::int), attempts = o.attempts + 1
         FROM due WHERE o.developer_id = due.developer_id
       RETURNING o.developer_id::text AS developer_id, o.action, o.portal_user_id, o.subject, o.email, o.tokens,
                 o.version, o.attempts, o.actor`,
      [limit, leaseSeconds],
    );
    const rows = (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as WorkRow[];
    return rows.map((r) => ({
      developerId: r.developer_id,
      action: r.action,
      portalUserId: r.portal_user_id,
      subject: r.subject,
      email: r.email,
      tokens: r.tokens,
      version: r.version,
      attempts: r.attempts,
      actor: r.actor,
    }));
  }

  /**
   * The erasure's tokens are revoked: they leave the row at once, whatever happens to the portal
   * step (and whatever wish came meanwhile, as long as it brought no other tokens).
   */
  async tokensRevoked(work: OutboxWork): Promise<void> {
    await this.dataSource.query(
      `UPDATE deprovisioning_outbox SET tokens = NULL WHERE developer_id = $1 AND tokens = $2::jsonb`,
      [work.developerId, JSON.stringify(work.tokens)],
    );
  }

  /**
   * The portal user was found by email: its id replaces the email at once (later attempts and
   * wishes use the id), unless a newer wish arrived meanwhile.
   */
  async portalUserFound(work: OutboxWork, portalUserId: string): Promise<void> {
    await this.dataSource.query(
      `UPDATE deprovisioning_outbox SET portal_user_id = $3, email = NULL, updated_at = now()
        WHERE developer_id = $1 AND version = $2`,
      [work.developerId, work.version, portalUserId],
    );
  }

  /**
   * Done, unless a newer wish arrived meanwhile (then only the lease is let go). Subject, email and
   * tokens are dropped: nothing personal stays in a done row.
   */
  async complete(work: OutboxWork): Promise<boolean> {
    const done = affected(
      await this.dataSource.query(
        `UPDATE deprovisioning_outbox
            SET state = 'done', lease_until = NULL, last_error = NULL, subject = NULL, email = NULL, tokens = NULL,
                done_at = now(), updated_at = now()
          WHERE developer_id = $1 AND version = $2`,
        [work.developerId, work.version],
      ),
    );
    if (done === 0) await this.release(work.developerId);
    return done > 0;
  }

  /** Failed this time: retried after `retryInSeconds`, the error kept for `portal_sync`. */
  async fail(work: OutboxWork, error: string, retryInSeconds: number): Promise<void> {
    const updated = affected(
      await this.dataSource.query(
        `UPDATE deprovisioning_outbox
            SET state = 'failed', lease_until = NULL, last_error = $3, updated_at = now(),
                next_attempt_at = now() + make_interval(secs => $4::double precision)
          WHERE developer_id = $1 AND version = $2`,
        [work.developerId, work.version, error.slice(0, 500), retryInSeconds],
      ),
    );
    if (updated === 0) await this.release(work.developerId);
  }

  private async release(developerId: string): Promise<void> {
    await this.dataSource.query(`UPDATE deprovisioning_outbox SET lease_until = NULL WHERE developer_id = $1`, [
      developerId,
    ]);
  }

  async state(developerId: string): Promise<PortalSyncState | null> {
    const rows = await this.dataSource.query<
      {
        state: PortalSyncState['state'];
        action: OutboxAction;
        attempts: number;
        last_error: string | null;
        updated_at: Date;
      }[]
    >(`SELECT state, action, attempts, last_error, updated_at FROM deprovisioning_outbox WHERE developer_id = $1`, [
      developerId,
    ]);
    const r = rows[0];
    return r
      ? {
          state: r.state,
          action: r.action,
          attempts: r.attempts,
          last_error: r.last_error,
          updated_at: r.updated_at.toISOString(),
        }
      : null;
  }
}
