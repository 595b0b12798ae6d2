import { createHash } from 'node:crypto';
import { AuditService, type AuditEventPage } from '@app/audit';
import {
  CursorCodec,
  DomainError,
  clipText,
  cursorInvalid,
  filterFingerprint,
  pageLimit,
  safeText,
  unsafeTextReason,
} from '@app/common';
import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import {
  DEVELOPER_STATUSES,
  blockOrigin,
  type ChangeContext,
  type DeveloperChange,
  type DeveloperChangeHook,
  type PortalSyncState,
  type Developer,
  type DeveloperStatus,
  type RecordLoginInput,
  type SignedInDeveloper,
} from './developer.js';
import { DevelopersRepository, ssoKeyHeld, type LoginValues } from './developers.repository.js';
import { IssuedTokensStore, type SealedToken } from './issued-tokens.store.js';

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
/** The cursor's time as DevelopersRepository writes it (`created_key`: microseconds, UTC). */
const CREATED_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

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

/** What an erased, blocked developer's subject becomes: not the subject, but still matched by a new login. */
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
 * here; the audit log refers to developers by id. The SQL is in DevelopersRepository.
 */
@Injectable()
export class DevelopersService {
  private readonly hooks: DeveloperChangeHook[] = [];

  constructor(
    private readonly developers: DevelopersRepository,
    private readonly audit: AuditService,
    private readonly cursors: CursorCodec,
    private readonly issuedTokens: IssuedTokensStore,
  ) {}

  /**
   * Creates or updates the developer of a login in one statement (INSERT … ON CONFLICT … DO
   * UPDATE … RETURNING): claims refreshed, login_count + 1, last_login_at now. A blocked
   * developer (also one blocked and then erased) is left untouched: `developer_blocked`; so is a
   * login that shares a blocked developer's email (lower-cased), SSO key or portal user: blocking
   * a person must survive a new `sub`, another profile or another IdP, because the portal signs
   * them in by email into the same account. A login whose SSO key another developer (another
   * issuer or subject) holds is refused too, before any portal call (`portal_rejected`): the portal
   * would hand it that developer's account.
   */
  async recordLogin(input: RecordLoginInput): Promise<{ developer: SignedInDeveloper; created: boolean }> {
    const issuer = required('issuer', input.issuer, 500);
    const subject = required('subject', input.subject, 255);
    const values: LoginValues = {
      issuer,
      subject,
      email: optional('email', input.email, 320),
      emailVerified: input.emailVerified === true,
      name: clip(input.name, 300),
      organisationId: clip(input.organisationId, 200),
      organisationName: clip(input.organisationName, 300),
      ssoKey: clip(input.ssoKey, 400),
      erasedSubject: erasedSubject(subject),
    };
    let recorded: Awaited<ReturnType<DevelopersRepository['recordLogin']>>;
    try {
      recorded = await this.developers.recordLogin(values);
    } catch (error) {
      if (!ssoKeyHeld(error)) throw error;
      throw new DomainError(
        'portal_rejected',
        "Another developer (another issuer or subject) holds this login's portal SSO key; the portal would sign this login in as them, so it is refused (a CustomUserIDField claim must be one the IdP controls, unique across the profiles' IdPs)",
      );
    }
    if (recorded) return recorded;
    if (await this.developers.isBlocked(values)) {
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
    const linked = await this.developers.setPortalLink(
      developerId(id),
      required('portalUserId', link.portalUserId, 100),
      clip(link.ssoKey, 400),
    );
    if (!linked) throw new DomainError('not_found', `No developer with id ${id}`);
    if (linked.blockedSibling) throw new DomainError('developer_blocked', 'This developer account is blocked');
    return linked.developer;
  }

  async findById(id: string): Promise<Developer | null> {
    return await this.developers.findById(developerId(id));
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
    let after: { c: string; id: string } | null = null;
    if (input.cursor) {
      const at = this.cursors.decode(input.cursor, fingerprint, ['c', 'id']);
      // Signed, so only the broker made it; still only ever hand SQL the shapes it wrote.
      if (!UUID.test(at.id) || !CREATED_KEY.test(at.c) || Number.isNaN(Date.parse(at.c))) {
        throw cursorInvalid('cursor');
      }
      after = { c: at.c, id: at.id };
    }
    const { developers, next } = await this.developers.list({ email, organization, status, after }, limit);
    return { data: developers, next_cursor: next ? this.cursors.encode(next, fingerprint) : null };
  }

  /**
   * Active developers with no login for `days` days (never signed in: counted from creation; an
   * unblocked developer: at the earliest from the unblock), oldest first, at most `limit`. The
   * inactivity policy's candidates: blockInactive checks each again as it blocks.
   */
  listInactive(days: number, limit = 1000): Promise<Developer[]> {
    return this.developers.listInactive(days, limit);
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
    developer: Developer,
    change: DeveloperChange,
    actor: string,
    before: { subject: string | null; email: string | null } = developer,
    tokens: SealedToken[] = [],
  ): Promise<void> {
    const event = { developer, change, actor, subject: before.subject, email: before.email, tokens };
    for (const hook of this.hooks) await hook.changed(m, event);
  }

  /**
   * Blocks future logins (audited as `developer.blocked` when the status changes). With `manager`,
   * in the caller's transaction: the block, its audit event and its follow-ups commit (or roll
   * back) with the caller's own writes, e.g. SCIM's delete or deactivation of the user.
   */
  block(id: string, actor: string, context: ChangeContext = {}, manager?: EntityManager): Promise<Developer> {
    return this.setStatus(id, 'blocked', actor, context, manager);
  }

  /**
   * Lets the developer sign in again (audited as `developer.unblocked` when the status changes);
   * `manager` as for block.
   */
  unblock(id: string, actor: string, context: ChangeContext = {}, manager?: EntityManager): Promise<Developer> {
    return this.setStatus(id, 'active', actor, context, manager);
  }

  /**
   * The inactivity policy's block: blocks the developer only if, at the moment of writing, they are
   * still active and have had no login or unblock for `days` days (see listInactive), so a login or
   * an unblock since the candidates were listed wins. When it blocks, it is audited as
   * `developer.blocked` and the follow-ups run, like block, in the caller's transaction (`manager`);
   * null when nothing changed (nothing audited, nothing enqueued).
   */
  async blockInactive(id: string, days: number, actor: string, manager: EntityManager): Promise<Developer | null> {
    const developer = await this.developers.blockInactive(developerId(id), days, manager);
    if (!developer) return null;
    await this.recordChange(
      manager,
      'developer.blocked',
      developer,
      actor,
      {},
      {
        previous_status: 'active',
        status: 'blocked',
      },
    );
    await this.notify(manager, developer, 'blocked', actor);
    return developer;
  }

  /**
   * Like unblock, but only a block whose origin (`blocked_by`, see blockOrigin) is one of
   * `origins`: SCIM lifts its own blocks, never an admin's, the CLI's, the inactivity policy's or
   * one of unknown origin. The developer is returned as it is then: still `blocked` when the block
   * was someone else's (nothing changed, nothing audited).
   */
  unblockIfBlockedBy(
    id: string,
    origins: string[],
    actor: string,
    context: ChangeContext = {},
    manager?: EntityManager,
  ): Promise<Developer> {
    return this.setStatus(id, 'active', actor, context, manager, origins);
  }

  /**
   * Locks the developer's row until the caller's transaction ends. A caller that locks rows of its
   * own and then blocks or unblocks the developer in the same transaction (SCIM) takes this first:
   * an erasure locks the developer before the rows its follow-ups delete, and the same order on
   * both sides means the two wait for each other instead of deadlocking.
   */
  async lock(id: string, manager: EntityManager): Promise<void> {
    await this.developers.lock(developerId(id), manager);
  }

  private async setStatus(
    id: string,
    status: DeveloperStatus,
    actor: string,
    context: ChangeContext,
    manager: EntityManager | undefined,
    onlyFrom: string[] | null = null,
  ): Promise<Developer> {
    const key = developerId(id);
    const change = async (m: EntityManager): Promise<Developer> => {
      const changed = await this.developers.setStatus(key, status, blockOrigin(actor), onlyFrom, m);
      if (!changed) throw new DomainError('not_found', `No developer with id ${id}`);
      const { developer, previousStatus, previousBlockedBy } = changed;
      if (previousStatus === 'blocked' && developer.status === 'blocked' && previousBlockedBy !== developer.blockedBy) {
        // An admin's (or the CLI's) block over a SCIM client's: SCIM can no longer lift it. Recorded,
        // since it changes who may let the developer back in.
        await this.recordChange(m, 'developer.blocked', developer, actor, context, {
          previous_status: 'blocked',
          status: 'blocked',
          blocked_by: developer.blockedBy,
          took_over_from: previousBlockedBy,
        });
      }
      if (previousStatus !== developer.status) {
        await this.recordChange(
          m,
          status === 'blocked' ? 'developer.blocked' : 'developer.unblocked',
          developer,
          actor,
          context,
          { previous_status: previousStatus, status },
        );
        await this.notify(m, developer, status === 'blocked' ? 'blocked' : 'unblocked', actor);
      }
      return developer;
    };
    return manager ? await change(manager) : await this.developers.transaction(change);
  }

  /**
   * Erases the developer's personal data: email, name, SSO key (derived from the user id) and the
   * subject claim (a blocked developer's is replaced by its SHA-256, so they stay blocked; anyone
   * else's is dropped, so nothing tells that the person ever had an account) are removed, and
   * so are the tokens the token actions issued to them (`issued_tokens`, handed still sealed to
   * the change hooks, which revoke them); the id, organisation and counters stay, so the audit
   * log keeps pointing at a pseudonym. All in one transaction. Audited as `developer.erased`;
   * erasing twice changes nothing.
   */
  async erase(id: string, actor: string, context: ChangeContext = {}): Promise<Developer> {
    const key = developerId(id);
    return await this.developers.transaction(async (m) => {
      // The subject before erasure: follow-ups (revoking the tokens issued under it) still need it.
      const before = await this.developers.identityForUpdate(key, m);
      const erased = await this.developers.erase(key, m);
      if (!erased) {
        const existing = await this.developers.findById(key, m);
        if (!existing) throw new DomainError('not_found', `No developer with id ${id}`);
        return existing;
      }
      // Their IP addresses and user agents in the audit log go too; the chain still verifies.
      const auditRows = await this.audit.erasePersonalData(erased.id, m);
      const tokens = await this.issuedTokens.takeForDeveloper(erased.id, m);
      await this.recordChange(m, 'developer.erased', erased, actor, context, {
        erased: ['email', 'name', 'subject', 'sso_key', 'audit_ip', 'audit_user_agent', 'issued_tokens'],
        audit_events_scrubbed: auditRows,
        // Not "…token…": audit details mask such keys.
        revocations_queued: tokens.length,
      });
      await this.notify(m, erased, 'erased', actor, before ?? erased, tokens);
      return erased;
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
    developer: Developer,
    actor: string,
    context: ChangeContext,
    details: Record<string, unknown>,
  ): Promise<void> {
    await this.audit.record(
      {
        type,
        outcome: 'success',
        actor,
        target: `developer:${developer.id}`,
        developerId: developer.id,
        organisationId: developer.organisationId,
        ip: context.ip ?? null,
        userAgent: context.userAgent ?? null,
        requestId: context.requestId ?? null,
        details,
      },
      m,
    );
  }
}
