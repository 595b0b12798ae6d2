import { ASYNC_COMMIT, isUniqueViolation, preparedQuery, preparedStatement, returningRows } from '@app/database';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { Developer, DeveloperResponse, DeveloperStatus, SignedInDeveloper } from './developer.js';

const COLUMNS = `d.id::text AS id, d.issuer, d.subject, d.email, d.email_verified, d.name, d.organisation_id,
  d.organisation_name, d.portal_user_id, d.sso_key, d.status, d.first_login_at, d.last_login_at, d.login_count,
  d.erased_at, d.unblocked_at, d.blocked_by, d.created_at, d.updated_at,
  to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

/**
 * A `developers` row as COLUMNS selects it: the API's snake_case shape (DeveloperResponse), with the
 * driver's Dates for the times and `created_key`, the keyset cursor's time.
 */
type RowTimes = 'first_login_at' | 'last_login_at' | 'erased_at' | 'created_at' | 'updated_at';
type DeveloperRow = Omit<DeveloperResponse, RowTimes> & {
  /** Not in the API's shape (the inactivity policy's). */
  unblocked_at: Date | null;
  blocked_by: string | null;
  first_login_at: Date | null;
  last_login_at: Date | null;
  erased_at: Date | null;
  created_at: Date;
  updated_at: Date;
  created_key: string;
};

function toDeveloper(r: DeveloperRow): Developer {
  return {
    id: r.id,
    issuer: r.issuer,
    subject: r.subject,
    email: r.email,
    emailVerified: r.email_verified,
    name: r.name,
    organisationId: r.organisation_id,
    organisationName: r.organisation_name,
    portalUserId: r.portal_user_id,
    ssoKey: r.sso_key,
    status: r.status,
    firstLoginAt: r.first_login_at,
    lastLoginAt: r.last_login_at,
    loginCount: r.login_count,
    erasedAt: r.erased_at,
    unblockedAt: r.unblocked_at,
    blockedBy: r.blocked_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * A blocked developer this login belongs to (a row `b`): the same (issuer, subject), also after
 * erasure; or the same person under a second identity (a new `sub`, another profile or IdP): the
 * same lower-cased email or SSO key, which the portal signs in as the same account, or the same
 * portal user as the row of this (issuer, subject). Takes the placeholders of issuer, subject,
 * email, SSO key and erased subject. Served by the partial indexes over blocked rows.
 */
const blockedMatch = (issuer: string, subject: string, email: string, ssoKey: string, erased: string) =>
  `b.status = 'blocked' AND (
         (b.issuer = ${issuer}::text AND b.subject IN (${subject}::text, ${erased}::text))
      OR (${email}::text IS NOT NULL AND lower(b.email) = lower(${email}::text))
      OR (${ssoKey}::text IS NOT NULL AND b.sso_key = ${ssoKey}::text)
      OR b.portal_user_id = (SELECT o.portal_user_id FROM developers o
                              WHERE o.issuer = ${issuer}::text AND o.subject = ${subject}::text
                                AND o.erased_at IS NULL))`;

/** The upsert failed because another live developer holds the login's SSO key (see RECORD_LOGIN). */
export function ssoKeyHeld(error: unknown): boolean {
  return isUniqueViolation(error, 'UQ_developers_live_sso_key');
}

/**
 * The login upsert (one statement; a blocked developer gets no row and nothing changes; an SSO key
 * another live developer holds fails it on UQ_developers_live_sso_key: ssoKeyHeld). Its
 * conflict target is the partial unique index over developers not erased: erased rows are never
 * updated by a login, and may share their `erased:<hash>` subject (a person erased twice). It
 * commits asynchronously (ASYNC_COMMIT): the login's audit event, success or failure, follows
 * with a synchronous commit and makes it durable.
 */
const RECORD_LOGIN = preparedStatement(
  'developers.record_login',
  `INSERT INTO developers AS d
       (issuer, subject, email, email_verified, name, organisation_id, organisation_name, sso_key,
        first_login_at, last_login_at, login_count)
     SELECT $1::text, $2::text, $3::text, $4::boolean, $5::text, $6::text, $7::text, $8::text, now(), now(), 1
      WHERE NOT EXISTS (SELECT 1 FROM developers b WHERE ${blockedMatch('$1', '$2', '$3', '$8', '$9')})
     ON CONFLICT (issuer, subject) WHERE erased_at IS NULL DO UPDATE SET
       email = EXCLUDED.email,
       email_verified = EXCLUDED.email_verified,
       name = EXCLUDED.name,
       organisation_id = EXCLUDED.organisation_id,
       organisation_name = EXCLUDED.organisation_name,
       sso_key = COALESCE(EXCLUDED.sso_key, d.sso_key),
       first_login_at = COALESCE(d.first_login_at, EXCLUDED.first_login_at),
       last_login_at = EXCLUDED.last_login_at,
       login_count = d.login_count + 1,
       updated_at = now()
     WHERE d.status <> 'blocked'
     RETURNING ${COLUMNS}, (d.xmax = 0) AS created, ${ASYNC_COMMIT}`,
);

/**
 * When the developer was last active for the inactivity policy: their last login (never signed in:
 * their creation), or their last unblock when later (an admin or SCIM let them back in).
 */
const LAST_ACTIVE = `GREATEST(COALESCE(d.last_login_at, d.created_at), d.unblocked_at)`;
/** The inactivity policy's condition; `$1` is the number of days. */
const INACTIVE = `d.status = 'active' AND d.erased_at IS NULL
  AND ${LAST_ACTIVE} < now() - make_interval(days => $1::int)`;

/** A login's values, already validated and clipped by DevelopersService. */
export interface LoginValues {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  organisationId: string | null;
  organisationName: string | null;
  ssoKey: string | null;
  /** What a blocked developer's subject becomes on erasure (so they stay blocked). */
  erasedSubject: string;
}

/** Filters of the admin list, already validated; `after` is a decoded keyset cursor. */
export interface DeveloperFilter {
  email: string | null;
  organization: string | null;
  status: string | null;
  after: { c: string; id: string } | null;
}

/** One page of developers and, when more follow, the keyset position of its last row. */
export interface DeveloperRows {
  developers: Developer[];
  next: { c: string; id: string } | null;
}

/** All SQL of the `developers` table. Writes that go with an audit event take its transaction. */
@Injectable()
export class DevelopersRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(fn);
  }

  /**
   * The login upsert; null when a blocked developer matched (nothing changed). The row is never an
   * erased one (the conflict target is the index over rows not erased), so it has the login's subject.
   */
  async recordLogin(v: LoginValues): Promise<{ developer: SignedInDeveloper; created: boolean } | null> {
    const rows = await preparedQuery<DeveloperRow & { created: boolean }>(this.dataSource, RECORD_LOGIN, [
      v.issuer,
      v.subject,
      v.email,
      v.emailVerified,
      v.name,
      v.organisationId,
      v.organisationName,
      v.ssoKey,
      v.erasedSubject,
    ]);
    const row = rows[0];
    return row ? { developer: { ...toDeveloper(row), subject: v.subject }, created: row.created } : null;
  }

  /** Whether a blocked developer is this login's person (see blockedMatch). */
  async isBlocked(v: LoginValues): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM developers b WHERE ${blockedMatch('$1', '$2', '$3', '$4', '$5')} LIMIT 1`,
      [v.issuer, v.subject, v.email, v.ssoKey, v.erasedSubject],
    );
    return rows.length > 0;
  }

  /**
   * Stores the portal user (and SSO key, when given); `blockedSibling` when another, blocked
   * developer has the same portal user. Null when there is no such developer.
   */
  async setPortalLink(
    id: string,
    portalUserId: string,
    ssoKey: string | null,
  ): Promise<{ developer: Developer; blockedSibling: boolean } | null> {
    const rows = await returningRows<DeveloperRow & { blocked_sibling: boolean }>(
      this.dataSource.manager,
      `UPDATE developers AS d SET portal_user_id = $2, sso_key = COALESCE($3, d.sso_key), updated_at = now()
        WHERE d.id = $1
        RETURNING ${COLUMNS}, EXISTS (SELECT 1 FROM developers b
                                       WHERE b.status = 'blocked' AND b.portal_user_id = $2 AND b.id <> $1) AS blocked_sibling`,
      [id, portalUserId, ssoKey],
    );
    const row = rows[0];
    return row ? { developer: toDeveloper(row), blockedSibling: row.blocked_sibling } : null;
  }

  async findById(id: string, manager?: EntityManager): Promise<Developer | null> {
    const rows = await (manager ?? this.dataSource).query<DeveloperRow[]>(
      `SELECT ${COLUMNS} FROM developers d WHERE d.id = $1`,
      [id],
    );
    return rows[0] ? toDeveloper(rows[0]) : null;
  }

  /** Newest first, keyset pages on (created_at, id). */
  async list(filter: DeveloperFilter, limit: number): Promise<DeveloperRows> {
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where: string[] = [];
    if (filter.email) where.push(`lower(d.email) = lower(${p(filter.email)})`);
    if (filter.organization) where.push(`d.organisation_id = ${p(filter.organization)}`);
    if (filter.status) where.push(`d.status = ${p(filter.status)}`);
    if (filter.after) {
      where.push(`(d.created_at, d.id) < (${p(filter.after.c)}::timestamptz, ${p(filter.after.id)}::uuid)`);
    }
    const rows = await this.dataSource.query<DeveloperRow[]>(
      `SELECT ${COLUMNS} FROM developers d ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY d.created_at DESC, d.id DESC LIMIT ${p(limit + 1)}`,
      params,
    );
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    return {
      developers: page.map(toDeveloper),
      next: more && last ? { c: last.created_key, id: last.id } : null,
    };
  }

  /** Locks the developer's row (as setStatus and erase do) until the manager's transaction ends. */
  async lock(id: string, manager: EntityManager): Promise<void> {
    await manager.query(`SELECT 1 FROM developers WHERE id = $1 FOR UPDATE`, [id]);
  }

  /**
   * Sets the status under a row lock; null when there is no such developer. Unblocking an erased
   * developer drops the subject's hash it kept only to stay blocked (see erase).
   *
   * `origin` (blockOrigin) becomes `blocked_by` when the developer gets blocked; a block of a
   * developer already blocked by SCIM (`scim…`) by anyone else (an admin, the CLI) takes it over,
   * so SCIM can no longer lift it; otherwise the first block's origin stays. Unblocking clears it;
   * with `onlyFrom`, an unblock happens only when the block's origin is one of those (a block of
   * unknown origin, null, is none), else the developer stays blocked and nothing changes.
   * Unblocking anyone sets `unblocked_at`, from which the inactivity policy counts too.
   */
  async setStatus(
    id: string,
    status: DeveloperStatus,
    origin: string,
    onlyFrom: string[] | null,
    manager: EntityManager,
  ): Promise<{ developer: Developer; previousStatus: DeveloperStatus; previousBlockedBy: string | null } | null> {
    const rows = await returningRows<
      DeveloperRow & { previous_status: DeveloperStatus; previous_blocked_by: string | null }
    >(
      manager,
      `WITH old AS (SELECT id, status, blocked_by FROM developers WHERE id = $1 FOR UPDATE),
            next AS (SELECT old.id,
                            CASE WHEN $2::varchar = 'active' AND old.status = 'blocked' AND $4::text[] IS NOT NULL
                                      AND NOT COALESCE(old.blocked_by = ANY($4::text[]), false)
                                 THEN old.status ELSE $2::varchar END AS status
                       FROM old)
       UPDATE developers AS d
          SET status = next.status,
              updated_at = CASE WHEN old.status <> next.status THEN now() ELSE d.updated_at END,
              blocked_by = CASE WHEN next.status <> 'blocked' THEN NULL
                                WHEN old.status <> 'blocked' THEN $3::text
                                WHEN (old.blocked_by = 'scim' OR old.blocked_by LIKE 'scim:%')
                                     AND NOT ($3::text = 'scim' OR $3::text LIKE 'scim:%') THEN $3::text
                                ELSE old.blocked_by END,
              unblocked_at = CASE WHEN old.status = 'blocked' AND next.status = 'active' THEN now() ELSE d.unblocked_at END,
              subject = CASE WHEN next.status = 'active' AND d.erased_at IS NOT NULL THEN NULL ELSE d.subject END
         FROM old JOIN next ON next.id = old.id WHERE d.id = old.id
       RETURNING ${COLUMNS}, old.status AS previous_status, old.blocked_by AS previous_blocked_by`,
      [id, status, origin, onlyFrom],
    );
    const row = rows[0];
    return row
      ? { developer: toDeveloper(row), previousStatus: row.previous_status, previousBlockedBy: row.previous_blocked_by }
      : null;
  }

  /**
   * Active developers with no login for `days` days (never signed in: counted from creation; an
   * unblocked developer: at the earliest from the unblock), oldest first, at most `limit`.
   */
  async listInactive(days: number, limit: number): Promise<Developer[]> {
    const rows = await this.dataSource.query<DeveloperRow[]>(
      `SELECT ${COLUMNS} FROM developers d WHERE ${INACTIVE}
        ORDER BY ${LAST_ACTIVE}, d.id LIMIT $2`,
      [days, limit],
    );
    return rows.map(toDeveloper);
  }

  /**
   * Blocks the developer only if they are still what listInactive found: active, not erased, no
   * login or unblock for `days` days. The condition is evaluated on the row as it is when written:
   * a login or unblock that wrote the row first is seen (after its commit, which the UPDATE waits
   * for), and one that comes later finds the developer blocked, so a developer who signs in after
   * the list was read is never blocked by it. Null when nothing changed.
   */
  async blockInactive(id: string, days: number, manager: EntityManager): Promise<Developer | null> {
    const rows = await returningRows<DeveloperRow>(
      manager,
      `UPDATE developers AS d SET status = 'blocked', blocked_by = 'inactivity', updated_at = now()
        WHERE d.id = $2 AND ${INACTIVE}
       RETURNING ${COLUMNS}`,
      [days, id],
    );
    return rows[0] ? toDeveloper(rows[0]) : null;
  }

  /** The identity an erasure is about to remove, the row locked until the transaction ends. */
  async identityForUpdate(
    id: string,
    manager: EntityManager,
  ): Promise<{ subject: string; email: string | null } | null> {
    const rows = await manager.query<{ subject: string; email: string | null }[]>(
      `SELECT subject, email FROM developers WHERE id = $1 AND erased_at IS NULL FOR UPDATE`,
      [id],
    );
    return rows[0] ?? null;
  }

  /**
   * Removes the personal data of a developer not yet erased; null when there is none or it was
   * erased before. A blocked developer's subject becomes its SHA-256 (blockedMatch still finds the
   * person's next login; the same for every erased row of the person, which the unique index
   * allows); anyone else's becomes NULL: a hash kept without a need would let anyone who knows a
   * subject find out that its owner once had an account.
   */
  async erase(id: string, manager: EntityManager): Promise<Developer | null> {
    const rows = await returningRows<DeveloperRow>(
      manager,
      `UPDATE developers AS d
          SET email = NULL, email_verified = false, name = NULL, sso_key = NULL,
              subject = CASE WHEN d.status = 'blocked'
                             THEN 'erased:' || encode(sha256(convert_to(d.subject, 'UTF8')), 'hex') END,
              erased_at = now(), updated_at = now()
        WHERE d.id = $1 AND d.erased_at IS NULL
       RETURNING ${COLUMNS}`,
      [id],
    );
    return rows[0] ? toDeveloper(rows[0]) : null;
  }
}
