import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isUniqueViolation } from '@app/database';
import type { DataSource, EntityManager } from 'typeorm';
import type { FilterCondition } from './scim-filter.js';

/** A SCIM user as stored. */
export interface ScimUserRecord {
  id: string;
  userName: string;
  externalId: string | null;
  email: string | null;
  givenName: string | null;
  familyName: string | null;
  displayName: string | null;
  active: boolean;
  developerId: string | null;
  /** The label of the SCIM token that created the user; null: unknown (created before it was kept). */
  client: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The writable part of a SCIM user. */
export type ScimUserFields = Pick<
  ScimUserRecord,
  'userName' | 'externalId' | 'email' | 'givenName' | 'familyName' | 'displayName' | 'active'
>;

const COLUMNS = `u.id::text AS id, u.user_name AS "userName", u.external_id AS "externalId", u.email,
  u.given_name AS "givenName", u.family_name AS "familyName", u.display_name AS "displayName", u.active,
  u.developer_id::text AS "developerId", u.client, u.version, u.created_at AS "createdAt", u.updated_at AS "updatedAt"`;

const WHERE: Record<FilterCondition['attribute'], (p: string) => string> = {
  userName: (p) => `lower(u.user_name) = lower(${p})`,
  externalId: (p) => `u.external_id = ${p}`,
  email: (p) => `lower(u.email) = lower(${p})`,
};

/**
 * The SCIM client a request comes from: its token's label and, when BROKER_SCIM_ISSUERS scopes it,
 * the one IdP issuer whose developers it provisions.
 */
export interface ScimScope {
  client: string;
  issuer: string | null;
}

/**
 * The users a client may see and change, as SQL over \`u\` with its two parameters at \`$at\`,
 * \`$at+1\`: an unscoped client every user (as before scoping existed); a scoped one the users it
 * created, and those of no recorded client that are unlinked or linked to a developer of its issuer.
 */
function visibleTo(scope: ScimScope, at: number): { sql: string; params: unknown[] } {
  if (scope.issuer === null) return { sql: 'TRUE', params: [] };
  return {
    sql: `(u.client = $${at} OR (u.client IS NULL AND (u.developer_id IS NULL
            OR EXISTS (SELECT 1 FROM developers vd WHERE vd.id = u.developer_id AND vd.issuer = $${at + 1}))))`,
    params: [scope.client, scope.issuer],
  };
}

function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) ? result[0] : result) as T[];
}

/** All SQL of the `scim_users` table (see the migration CreateScimUsers). */
@Injectable()
export class ScimUsersRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /** Matching users in creation order, one page, and how many match in all. */
  async list(conditions: FilterCondition[], offset: number, limit: number, scope: ScimScope) {
    const params: unknown[] = conditions.map((c) => c.value);
    const where = conditions.map((c, i) => WHERE[c.attribute](`$${i + 1}`));
    const visible = visibleTo(scope, params.length + 1);
    if (visible.params.length > 0) {
      where.push(visible.sql);
      params.push(...visible.params);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const [{ total }] = await this.dataSource.query<{ total: number }[]>(
      `SELECT count(*)::int AS total FROM scim_users u ${clause}`,
      params,
    );
    const rows =
      limit === 0
        ? []
        : await this.dataSource.query<ScimUserRecord[]>(
            `SELECT ${COLUMNS} FROM scim_users u ${clause} ORDER BY u.created_at, u.id
              OFFSET $${params.length + 1} LIMIT $${params.length + 2}`,
            [...params, offset, limit],
          );
    return { total, rows };
  }

  /** The user, when this client may see it (else null, as for an unknown id). */
  async find(
    id: string,
    scope: ScimScope,
    m: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<ScimUserRecord | null> {
    const visible = visibleTo(scope, 2);
    const rows = await m.query<ScimUserRecord[]>(
      `SELECT ${COLUMNS} FROM scim_users u WHERE u.id = $1 AND ${visible.sql}${lock ? ' FOR UPDATE OF u' : ''}`,
      [id, ...visible.params],
    );
    return rows[0] ?? null;
  }

  async userNameTaken(m: EntityManager, userName: string, exceptId: string | null): Promise<boolean> {
    const rows = await m.query<unknown[]>(
      `SELECT 1 FROM scim_users WHERE lower(user_name) = lower($1) AND ($2::uuid IS NULL OR id <> $2::uuid)`,
      [userName, exceptId],
    );
    return rows.length > 0;
  }

  async insert(m: EntityManager, f: ScimUserFields, client: string): Promise<ScimUserRecord> {
    const rows = await m.query<ScimUserRecord[]>(
      `INSERT INTO scim_users AS u (user_name, external_id, email, given_name, family_name, display_name, active, client)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [f.userName, f.externalId, f.email, f.givenName, f.familyName, f.displayName, f.active, client],
    );
    return rows[0];
  }

  /**
   * Writes the user's fields. A user of no recorded client (created before the client was kept) is
   * taken over by the client that changes it, so from then on it follows that client's scope.
   */
  async update(m: EntityManager, id: string, f: ScimUserFields, client: string): Promise<ScimUserRecord> {
    const rows = rowsOf<ScimUserRecord>(
      await m.query(
        `UPDATE scim_users AS u SET user_name = $2, external_id = $3, email = $4, given_name = $5, family_name = $6,
                display_name = $7, active = $8, client = coalesce(u.client, $9), version = u.version + 1,
                updated_at = now()
          WHERE u.id = $1 RETURNING ${COLUMNS}`,
        [id, f.userName, f.externalId, f.email, f.givenName, f.familyName, f.displayName, f.active, client],
      ),
    );
    return rows[0];
  }

  async remove(m: EntityManager, id: string): Promise<void> {
    await m.query(`DELETE FROM scim_users WHERE id = $1`, [id]);
  }

  /**
   * Deletes the SCIM user that provisions this developer (its userName, emails, names and
   * externalId are the developer's personal data): part of the developer's erasure, in its
   * transaction. Returns the deleted user's id, or null when there was none.
   */
  async removeForDeveloper(m: EntityManager, developerId: string): Promise<string | null> {
    const rows = rowsOf<{ id: string }>(
      await m.query(`DELETE FROM scim_users WHERE developer_id = $1 RETURNING id::text AS id`, [developerId]),
    );
    return rows[0]?.id ?? null;
  }

  async link(m: EntityManager, id: string, developerId: string): Promise<void> {
    await m.query(`UPDATE scim_users SET developer_id = $2 WHERE id = $1 AND developer_id IS NULL`, [id, developerId]);
  }

  /**
   * The one developer a SCIM user provisions, when exactly one matches: by subject = externalId,
   * else by a verified email; never one another SCIM user already holds. \`issuer\` (the creating
   * client's, when BROKER_SCIM_ISSUERS scopes it) limits both to that IdP's developers; null: any.
   */
  async matchDeveloper(m: EntityManager, user: ScimUserRecord, issuer: string | null): Promise<string | null> {
    const rows = await m.query<{ id: string }[]>(
      `SELECT d.id::text AS id FROM developers d
        WHERE d.erased_at IS NULL
          AND ($3::text IS NULL OR d.issuer = $3::text)
          AND NOT EXISTS (SELECT 1 FROM scim_users s WHERE s.developer_id = d.id)
          AND (($1::text IS NOT NULL AND d.subject = $1::text)
            OR ($1::text IS NULL
                OR NOT EXISTS (SELECT 1 FROM developers x
                                WHERE x.subject = $1::text AND ($3::text IS NULL OR x.issuer = $3::text)))
               AND $2::text IS NOT NULL AND d.email_verified AND lower(d.email) = lower($2::text))
        LIMIT 2`,
      [user.externalId, user.email, issuer],
    );
    return rows.length === 1 ? rows[0].id : null;
  }

  /**
   * The SCIM user a developer's login matches and links (first login after pre-provisioning):
   * externalId = subject first, else a verified email. Locks the row. \`foreignClients\` are the
   * SCIM clients scoped to an issuer other than the developer's: their users are never linked.
   *
   * Two logins of one developer at once (two tabs, a retried callback), or a login beside a SCIM
   * create that matches the same developer, converge on one link instead of failing: the candidate
   * is locked waiting (not skipped), so the second login sees the first one's link once it commits;
   * and when it has picked another candidate, its link meets `UQ_scim_users_developer` (23505),
   * which is undone to a savepoint and answered with the user the other transaction linked.
   */
  async linkAtLogin(
    m: EntityManager,
    developer: { id: string; subject: string; email: string | null; emailVerified: boolean },
    foreignClients: string[] = [],
  ): Promise<ScimUserRecord | null> {
    const linked = await this.linkedTo(m, developer.id);
    if (linked) return linked;
    const rows = await m.query<ScimUserRecord[]>(
      `SELECT ${COLUMNS} FROM scim_users u
        WHERE u.developer_id IS NULL
          AND (u.client IS NULL OR NOT (u.client = ANY($4::text[])))
          AND (u.external_id = $1 OR ($2::text IS NOT NULL AND $3 AND lower(u.email) = lower($2::text)))
        ORDER BY (u.external_id = $1) DESC NULLS LAST, u.created_at LIMIT 1 FOR UPDATE`,
      [developer.subject, developer.email, developer.emailVerified, foreignClients],
    );
    const match = rows[0];
    // None left: a concurrent login may have linked the one this login waited for.
    if (!match) return this.linkedTo(m, developer.id);
    await m.query(`SAVEPOINT scim_link`);
    try {
      await this.link(m, match.id, developer.id);
    } catch (e) {
      if (!isUniqueViolation(e, 'UQ_scim_users_developer')) throw e;
      // Postgres raised it only once the other transaction committed: its link is visible now.
      await m.query(`ROLLBACK TO SAVEPOINT scim_link`);
      return this.linkedTo(m, developer.id);
    }
    await m.query(`RELEASE SAVEPOINT scim_link`);
    return { ...match, developerId: developer.id };
  }

  private async linkedTo(m: EntityManager, developerId: string): Promise<ScimUserRecord | null> {
    const rows = await m.query<ScimUserRecord[]>(`SELECT ${COLUMNS} FROM scim_users u WHERE u.developer_id = $1`, [
      developerId,
    ]);
    return rows[0] ?? null;
  }
}
