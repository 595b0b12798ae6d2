import { randomUUID } from 'node:crypto';
import type { PortalSyncState, SealedToken } from '@app/developers';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

export type OutboxAction = 'deactivate' | 'reactivate' | 'delete';

/** A claimed outbox row: the work, the version it was claimed at, and the claim's lease token. */
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
  /** This claim's token in `lease_owner`: only its holder may act on, complete or let go of the row. */
  leaseOwner: string;
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
  lease_owner: string;
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
   * Claims up to `limit` due rows for `leaseSeconds` under a fresh lease token (FOR UPDATE SKIP
   * LOCKED: two instances never take the same row; a crashed instance's lease simply runs out).
   * Counts the attempt. The worker claims one row at a time, so each lease covers one row's work.
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
          SET lease_until = now() + make_interval(secs => $2::int), lease_owner = $3::uuid,
              attempts = o.attempts + 1
         FROM due WHERE o.developer_id = due.developer_id
       RETURNING o.developer_id::text AS developer_id, o.action, o.portal_user_id, o.subject, o.email, o.tokens,
                 o.version, o.attempts, o.actor, o.lease_owner::text AS lease_owner`,
      [limit, leaseSeconds, randomUUID()],
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
      leaseOwner: r.lease_owner,
    }));
  }

  /**
   * Right before an effect: whether this claim still holds the row at the version it claimed, its
   * lease not run out; if so the lease is extended by `leaseSeconds`. False when the lease ran out
   * (another worker may have claimed the row since) or a newer wish arrived: the caller must not
   * act, as its action may be stale or being carried out by another worker.
   */
  async hold(work: OutboxWork, leaseSeconds: number): Promise<boolean> {
    return (
      affected(
        await this.dataSource.query(
          `UPDATE deprovisioning_outbox SET lease_until = now() + make_interval(secs => $4::int)
            WHERE developer_id = $1 AND version = $2 AND lease_owner = $3::uuid AND lease_until > now()`,
          [work.developerId, work.version, work.leaseOwner, leaseSeconds],
        ),
      ) > 0
    );
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
   * Done, unless a newer wish arrived meanwhile (then only the lease is let go) or another worker
   * holds the row now (then nothing changes). Subject, email and tokens are dropped: nothing
   * personal stays in a done row.
   */
  async complete(work: OutboxWork): Promise<boolean> {
    const done = affected(
      await this.dataSource.query(
        `UPDATE deprovisioning_outbox
            SET state = 'done', lease_until = NULL, lease_owner = NULL, last_error = NULL, subject = NULL,
                email = NULL, tokens = NULL, done_at = now(), updated_at = now()
          WHERE developer_id = $1 AND version = $2 AND lease_owner = $3::uuid`,
        [work.developerId, work.version, work.leaseOwner],
      ),
    );
    if (done === 0) await this.release(work);
    return done > 0;
  }

  /**
   * Not carried out, on purpose, and not to be retried for this wish (the portal account is not a
   * developer's): `failed` with the reason, no next attempt until a new wish; nothing personal is
   * kept, as in a done row. Only while this claim holds the row at its version.
   */
  async refuse(work: OutboxWork, reason: string): Promise<boolean> {
    const refused = affected(
      await this.dataSource.query(
        `UPDATE deprovisioning_outbox
            SET state = 'failed', lease_until = NULL, lease_owner = NULL, last_error = $4, subject = NULL,
                email = NULL, tokens = NULL, next_attempt_at = 'infinity', updated_at = now()
          WHERE developer_id = $1 AND version = $2 AND lease_owner = $3::uuid`,
        [work.developerId, work.version, work.leaseOwner, reason.slice(0, 500)],
      ),
    );
    if (refused === 0) await this.release(work);
    return refused > 0;
  }

  /**
   * Failed this time: retried after `retryInSeconds`, the error kept for `portal_sync`. Only while
   * this claim holds the row at its version (else as in {@link complete}).
   */
  async fail(work: OutboxWork, error: string, retryInSeconds: number): Promise<void> {
    const updated = affected(
      await this.dataSource.query(
        `UPDATE deprovisioning_outbox
            SET state = 'failed', lease_until = NULL, lease_owner = NULL, last_error = $3, updated_at = now(),
                next_attempt_at = now() + make_interval(secs => $4::double precision)
          WHERE developer_id = $1 AND version = $2 AND lease_owner = $5::uuid`,
        [work.developerId, work.version, error.slice(0, 500), retryInSeconds, work.leaseOwner],
      ),
    );
    if (updated === 0) await this.release(work);
  }

  /**
   * Lets go of the row (a newer wish is due at once) if this claim still holds it; a row another
   * worker claimed since keeps that worker's lease.
   */
  async release(work: OutboxWork): Promise<void> {
    await this.dataSource.query(
      `UPDATE deprovisioning_outbox SET lease_until = NULL, lease_owner = NULL
        WHERE developer_id = $1 AND lease_owner = $2::uuid`,
      [work.developerId, work.leaseOwner],
    );
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
