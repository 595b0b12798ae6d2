import { preparedQuery, preparedStatement, returningRows } from '@app/database';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

const FIND = preparedStatement(
  'issued_tokens.find',
  `SELECT sealed FROM issued_tokens WHERE lookup = $1 AND (expires_at IS NULL OR expires_at > now())`,
);

/** One row per (profile, user): a new token replaces the previous one. */
const UPSERT = preparedStatement(
  'issued_tokens.upsert',
  `INSERT INTO issued_tokens (lookup, sealed, issued_at, expires_at, profile_id, developer_id)
     VALUES ($1, $2, now(), CASE WHEN $3::int IS NULL THEN NULL ELSE now() + make_interval(secs => $3::int) END,
             $4, $5::uuid)
   ON CONFLICT (lookup) DO UPDATE SET sealed = EXCLUDED.sealed, issued_at = EXCLUDED.issued_at,
     expires_at = EXCLUDED.expires_at, profile_id = EXCLUDED.profile_id, developer_id = EXCLUDED.developer_id`,
);

/** A few expired rows per write: the table stays bounded without a background job. */
const PURGE = preparedStatement(
  'issued_tokens.purge',
  `DELETE FROM issued_tokens WHERE lookup IN (
     SELECT lookup FROM issued_tokens WHERE expires_at <= now() ORDER BY expires_at LIMIT 100)`,
);

/** All SQL of the `issued_tokens` table (see the migration CreateIssuedTokens). */
@Injectable()
export class IssuedTokensRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async find(lookup: Buffer): Promise<Buffer | null> {
    const rows = await preparedQuery<{ sealed: Buffer }>(this.dataSource, FIND, [lookup]);
    return rows[0]?.sealed ?? null;
  }

  /** Forgets the token (after it was revoked). */
  async remove(lookup: Buffer): Promise<void> {
    await this.dataSource.query(`DELETE FROM issued_tokens WHERE lookup = $1`, [lookup]);
  }

  /** Stores (or replaces) the sealed token; `ttlSeconds` null keeps it until replaced. */
  async save(
    lookup: Buffer,
    sealed: Buffer,
    ttlSeconds: number | null,
    owner: { profileId: string; developerId: string | null },
  ): Promise<void> {
    await preparedQuery(this.dataSource, UPSERT, [lookup, sealed, ttlSeconds, owner.profileId, owner.developerId]);
    await preparedQuery(this.dataSource, PURGE, []);
  }

  /** The profiles under which the developer has an unexpired token on record. */
  async liveProfilesOf(developerId: string): Promise<string[]> {
    const rows = await this.dataSource.query<{ profile_id: string }[]>(
      `SELECT DISTINCT profile_id FROM issued_tokens
        WHERE developer_id = $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY profile_id`,
      [developerId],
    );
    return rows.map((r) => r.profile_id);
  }

  /**
   * Deletes every unexpired token row of the developer in the caller's transaction and returns
   * them (an erasure hands them, still sealed, to the deprovisioning outbox for revocation).
   */
  async takeForDeveloper(
    developerId: string,
    manager: EntityManager,
  ): Promise<{ profile_id: string; lookup: Buffer; sealed: Buffer; live: boolean }[]> {
    return await returningRows(
      manager,
      `DELETE FROM issued_tokens WHERE developer_id = $1
       RETURNING profile_id, lookup, sealed, (expires_at IS NULL OR expires_at > now()) AS live`,
      [developerId],
    );
  }
}
