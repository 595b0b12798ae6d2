import { createHash } from 'node:crypto';
import {
  AuditService,
  CursorCodec,
  cursorInvalid,
  filterFingerprint,
  pageLimit,
  type AuditEventPage,
} from '@app/audit';
import { DomainError, clipText, safeText, unsafeTextReason } from '@app/common';
import { preparedQuery, preparedStatement } from '@app/database';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import {
  DEVELOPER_STATUSES,
  type ChangeContext,
  type DeveloperChange,
  type DeveloperChangeHook,
  type PortalSyncState,
  type Developer,
  type DeveloperStatus,
  type RecordLoginInput,
} from './developer.js';

export interface DeveloperListInput {
  /** Exact email, case-insensitive. */
  email?: string;
  /** Cloudentity organisation id. */
  organization?: string;
  status?: string;
  cursor?: string;
  limit?: number | string;
}

export interface DeveloperPage {
  data: Developer[];
  next_cursor: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `created_key` as COLUMNS writes it (microseconds, UTC). */
const CREATED_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const COLUMNS = `d.id::text AS id, d.issuer, d.subject, d.email, d.email_verified, d.name, d.organisation_id,
  d.organisation_name, d.portal_user_id, d.sso_key, d.status, d.first_login_at, d.last_login_at, d.login_count,
  d.erased_at, d.created_at, d.updated_at,
  to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;

interface DeveloperRow {
  id: string;
  issuer: string;
  subject: string;
  email: string | null;
  email_verified: boolean;
  name: string | null;
  organisation_id: string | null;
  organisation_name: string | null;
  portal_user_id: string | null;
  sso_key: string | null;
  status: DeveloperStatus;
  first_login_at: Date | null;
  last_login_at: Date | null;
  login_count: number;
  erased_at: Date | null;
  created_at: Date;
  updated_at: Date;
  created_key: string;
}

/**
 * Rows of a statement with RETURNING. TypeORM answers UPDATE and DELETE with `[rows, rowCount]`
 * and INSERT or SELECT with the rows.
 */
async function returning<T>(m: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  const result = await m.query<unknown>(sql, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}

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
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function invalid(parameter: string, problem: string): DomainError {
  return new DomainError('validation_failed', `${parameter}: ${problem}`, { parameter });
}

function required(parameter: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(parameter, 'must not be empty');
  if (value.length > max) throw invalid(parameter, `must be at most ${max} characters`);
  // Text Postgres cannot hold (NUL, unpaired surrogates): refused here, not by the database.
  const unsafe = unsafeTextReason(value);
  if (unsafe) throw invalid(parameter, unsafe);
  return value;
}

function optional(parameter: string, value: unknown, max: number): string | null {
  if (value === undefined || value === null || value === '') return null;
  return required(parameter, value, max);
}

/** Clipped (never inside a surrogate pair) and repaired: shown text that must not fail the write. */
const clip = (value: string | null | undefined, max: number): string | null =>
  value === undefined || value === null || value === '' ? null : safeText(clipText(value, max));

/** What an erased developer's subject becomes: not the subject, but still matched by a new login. */
export function erasedSubject(subject: string): string {
  return `erased:${createHash('sha256').update(subject, 'utf8').digest('hex')}`;
}

function developerId(id: string): string {
  if (typeof id !== 'string' || !UUID.test(id)) throw invalid('id', 'expected a developer id (uuid)');
  return id.toLowerCase();
}

/**
 * Developers: the login upsert, the admin reads, and the admin changes (block, unblock, erase),
 * each change audited in the same transaction. Personal data (email, name, claims) lives only
 * here; the audit log refers to developers by id.
 */
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
                              WHERE o.issuer = ${issuer}::text AND o.subject = ${subject}::text))`;

/** The login upsert (one statement; a blocked developer gets no row and nothing changes). */
const RECORD_LOGIN = preparedStatement(
  'developers.record_login',
  `INSERT INTO developers AS d
       (issuer, subject, email, email_verified, name, organisation_id, organisation_name, sso_key,
        first_login_at, last_login_at, login_count)
     SELECT $1::text, $2::text, $3::text, $4::boolean, $5::text, $6::text, $7::text, $8::text, now(), now(), 1
      WHERE NOT EXISTS (SELECT 1 FROM developers b WHERE ${blockedMatch('$1', '$2', '$3', '$8', '$9')})
     ON CONFLICT (issuer, subject) DO UPDATE SET
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
     RETURNING ${COLUMNS}, (d.xmax = 0) AS created`,
);

@Injectable()
export class DevelopersService {
  private readonly hooks: DeveloperChangeHook[] = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly cursors: CursorCodec,
  ) {}

  /**
   * Creates or updates the developer of a login in one statement (INSERT … ON CONFLICT … DO
   * UPDATE … RETURNING): claims refreshed, login_count + 1, last_login_at now. A blocked
   * developer (also one blocked and then erased) is left untouched: `developer_blocked`; so is a
   * login that shares a blocked developer's email (lower-cased), SSO key or portal user: blocking
   * a person must survive a new `sub`, another profile or another IdP, because the portal signs
   * them in by email into the same account.
   */
  async recordLogin(input: RecordLoginInput): Promise<{ developer: Developer; created: boolean }> {
    const issuer = required('issuer', input.issuer, 500);
    const subject = required('subject', input.subject, 255);
    const email = optional('email', input.email, 320);
    const params = [
      issuer,
      subject,
      email,
      input.emailVerified === true,
      clip(input.name, 300),
      clip(input.organisationId, 200),
      clip(input.organisationName, 300),
      clip(input.ssoKey, 400),
      erasedSubject(subject),
    ];
    const rows = await preparedQuery<DeveloperRow & { created: boolean }>(this.dataSource, RECORD_LOGIN, params);
    const row = rows[0];
    if (row) return { developer: toDeveloper(row), created: row.created };
    const blocked = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM developers b WHERE ${blockedMatch('$1', '$2', '$3', '$4', '$5')} LIMIT 1`,
      [issuer, subject, email, params[7], params[8]],
    );
    if (blocked.length > 0) {
      throw new DomainError('developer_blocked', 'This developer account is blocked');
    }
    throw new Error('developers: the login upsert returned no row');
  }

  /**
   * Records the portal account made or found for the developer. When a blocked developer has the
   * same portal user, the link is stored (so later logins are refused at once) and
   * `developer_blocked` thrown: it is the same person behind a second identity.
   */
  async setPortalLink(id: string, link: { portalUserId: string; ssoKey?: string | null }): Promise<Developer> {
    const rows = await returning<DeveloperRow & { blocked_sibling: boolean }>(
      this.dataSource.manager,
      `UPDATE developers AS d SET portal_user_id = $2, sso_key = COALESCE($3, d.sso_key), updated_at = now()
        WHERE d.id = $1
        RETURNING ${COLUMNS}, EXISTS (SELECT 1 FROM developers b
                                       WHERE b.status = 'blocked' AND b.portal_user_id = $2 AND b.id <> $1) AS blocked_sibling`,
      [developerId(id), required('portalUserId', link.portalUserId, 100), clip(link.ssoKey, 400)],
    );
    const row = rows[0];
    if (!row) throw new DomainError('not_found', `No developer with id ${id}`);
    if (row.blocked_sibling) throw new DomainError('developer_blocked', 'This developer account is blocked');
    return toDeveloper(row);
  }

  async findById(id: string): Promise<Developer | null> {
    const rows = await this.dataSource.query<DeveloperRow[]>(`SELECT ${COLUMNS} FROM developers d WHERE d.id = $1`, [
      developerId(id),
    ]);
    return rows[0] ? toDeveloper(rows[0]) : null;
  }

  /** Like findById, but `not_found` when there is none. */
  async get(id: string): Promise<Developer> {
    const developer = await this.findById(id);
    if (!developer) throw new DomainError('not_found', `No developer with id ${id}`);
    return developer;
  }

  /** Newest first, keyset pages on (created_at, id). Bad filters: `validation_failed`. */
  async list(input: DeveloperListInput = {}): Promise<DeveloperPage> {
    const email = optional('email', input.email, 320);
    const organization = optional('organization', input.organization, 200);
    const status = optional('status', input.status, 16);
    if (status !== null && !(DEVELOPER_STATUSES as readonly string[]).includes(status)) {
      throw invalid('status', 'expected active or blocked');
    }
    const limit = pageLimit(input.limit);
    const fingerprint = filterFingerprint({ email: email?.toLowerCase() ?? null, organization, status });
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where: string[] = [];
    if (email) where.push(`lower(d.email) = lower(${p(email)})`);
    if (organization) where.push(`d.organisation_id = ${p(organization)}`);
    if (status) where.push(`d.status = ${p(status)}`);
    if (input.cursor) {
      const at = this.cursors.decode(input.cursor, fingerprint, ['c', 'id']);
      // Signed, so only the broker made it; still only ever hand SQL the shapes it wrote.
      if (!UUID.test(at.id) || !CREATED_KEY.test(at.c) || Number.isNaN(Date.parse(at.c))) {
        throw cursorInvalid('cursor');
      }
      where.push(`(d.created_at, d.id) < (${p(at.c)}::timestamptz, ${p(at.id)}::uuid)`);
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
      data: page.map(toDeveloper),
      next_cursor: more && last ? this.cursors.encode({ c: last.created_key, id: last.id }, fingerprint) : null,
    };
  }

  /**
   * Active developers with no login for `days` days (never signed in: counted from creation),
   * oldest first, at most `limit`. The inactivity policy's candidates.
   */
  async listInactive(days: number, limit = 1000): Promise<Developer[]> {
    const rows = await this.dataSource.query<DeveloperRow[]>(
      `SELECT ${COLUMNS} FROM developers d
        WHERE d.status = 'active' AND d.erased_at IS NULL
          AND COALESCE(d.last_login_at, d.created_at) < now() - make_interval(days => $1::int)
        ORDER BY COALESCE(d.last_login_at, d.created_at), d.id LIMIT $2`,
      [days, limit],
    );
    return rows.map(toDeveloper);
  }

  /** Follow-ups of block, unblock and erase (run in the change's transaction); see DeveloperChangeHook. */
  onChange(hook: DeveloperChangeHook): void {
    this.hooks.push(hook);
  }

  /** Where the portal stands with the developer's last change, when a hook tracks it. */
  async portalSync(id: string): Promise<PortalSyncState | null> {
    for (const hook of this.hooks) {
      const state = await hook.portalSync(developerId(id));
      if (state) return state;
    }
    return null;
  }

  private async notify(
    m: EntityManager,
    row: DeveloperRow,
    change: DeveloperChange,
    actor: string,
    before: { subject: string; email: string | null } = row,
  ): Promise<void> {
    const event = { developer: toDeveloper(row), change, actor, subject: before.subject, email: before.email };
    for (const hook of this.hooks) await hook.changed(m, event);
  }

  /** Blocks future logins (audited as `developer.blocked` when the status changes). */
  block(id: string, actor: string, context: ChangeContext = {}): Promise<Developer> {
    return this.setStatus(id, 'blocked', actor, context);
  }

  /** Lets the developer sign in again (audited as `developer.unblocked` when the status changes). */
  unblock(id: string, actor: string, context: ChangeContext = {}): Promise<Developer> {
    return this.setStatus(id, 'active', actor, context);
  }

  private async setStatus(
    id: string,
    status: DeveloperStatus,
    actor: string,
    context: ChangeContext,
  ): Promise<Developer> {
    const key = developerId(id);
    return await this.dataSource.transaction(async (m) => {
      const rows = await returning<DeveloperRow & { previous_status: DeveloperStatus }>(
        m,
        `WITH old AS (SELECT id, status FROM developers WHERE id = $1 FOR UPDATE)
         UPDATE developers AS d
            SET status = $2::varchar, updated_at = CASE WHEN old.status <> $2::varchar THEN now() ELSE d.updated_at END
           FROM old WHERE d.id = old.id
         RETURNING ${COLUMNS}, old.status AS previous_status`,
        [key, status],
      );
      const row = rows[0];
      if (!row) throw new DomainError('not_found', `No developer with id ${id}`);
      if (row.previous_status !== status) {
        await this.recordChange(
          m,
          status === 'blocked' ? 'developer.blocked' : 'developer.unblocked',
          row,
          actor,
          context,
          {
            previous_status: row.previous_status,
            status,
          },
        );
        await this.notify(m, row, status === 'blocked' ? 'blocked' : 'unblocked', actor);
      }
      return toDeveloper(row);
    });
  }

  /**
   * Erases the developer's personal data: email, name, SSO key (derived from the user id) and the
   * subject claim (replaced by its SHA-256, so a blocked developer stays blocked) are removed;
   * the id, organisation and counters stay, so the audit log keeps pointing at a pseudonym.
   * Audited as `developer.erased`; erasing twice changes nothing.
   */
  async erase(id: string, actor: string, context: ChangeContext = {}): Promise<Developer> {
    const key = developerId(id);
    return await this.dataSource.transaction(async (m) => {
      // The subject before erasure: follow-ups (revoking the tokens issued under it) still need it.
      const before = await m.query<{ subject: string; email: string | null }[]>(
        `SELECT subject, email FROM developers WHERE id = $1 AND erased_at IS NULL FOR UPDATE`,
        [key],
      );
      const rows = await returning<DeveloperRow>(
        m,
        `UPDATE developers AS d
            SET email = NULL, email_verified = false, name = NULL, sso_key = NULL,
                subject = 'erased:' || encode(sha256(convert_to(d.subject, 'UTF8')), 'hex'),
                erased_at = now(), updated_at = now()
          WHERE d.id = $1 AND d.erased_at IS NULL
         RETURNING ${COLUMNS}`,
        [key],
      );
      const row = rows[0];
      if (!row) {
        const existing = await m.query<DeveloperRow[]>(`SELECT ${COLUMNS} FROM developers d WHERE d.id = $1`, [key]);
        if (!existing[0]) throw new DomainError('not_found', `No developer with id ${id}`);
        return toDeveloper(existing[0]);
      }
      await this.recordChange(m, 'developer.erased', row, actor, context, {
        erased: ['email', 'name', 'subject', 'sso_key'],
      });
      await this.notify(m, row, 'erased', actor, before[0]);
      return toDeveloper(row);
    });
  }

  /** The developer's `login.*` events from the audit log, newest first, in keyset pages. */
  async loginHistory(id: string, cursor?: string, limit?: number | string): Promise<AuditEventPage> {
    await this.get(id);
    return this.audit.query({ developer: id.toLowerCase(), type: ['login.*'], cursor, limit });
  }

  private async recordChange(
    m: EntityManager,
    type: 'developer.blocked' | 'developer.unblocked' | 'developer.erased',
    row: DeveloperRow,
    actor: string,
    context: ChangeContext,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record(
      {
        type,
        outcome: 'success',
        actor,
        target: `developer:${row.id}`,
        developerId: row.id,
        organisationId: row.organisation_id,
        ip: context.ip ?? null,
        userAgent: context.userAgent ?? null,
        requestId: context.requestId ?? null,
        details,
      },
      m,
    );
  }
}
