import { AuditService, type AuditEventType } from '@app/audit';
import { DomainError } from '@app/common';
import { DevelopersService } from '@app/developers';
import { provisioningConfig, type ProvisioningConfig } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ScimError } from './scim-error.js';
import { parseFilter } from './scim-filter.js';
import { applyPatch } from './scim-patch.js';
import { LIST_SCHEMA, fieldsFrom, toResource } from './scim-user.mapper.js';
import {
  ScimUsersRepository,
  type ScimScope,
  type ScimUserFields,
  type ScimUserRecord,
} from './scim-users.repository.js';

/** Who calls: the label of the SCIM token (never the token) and the request facts. */
export interface ScimCaller {
  label: string;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  baseUrl: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_COUNT = 200;

/** Whether `active` changed (a user created inactive counts as a change). */
function activeChanged(user: ScimUserRecord, before: ScimUserRecord | null): boolean {
  return before === null ? !user.active : before.active !== user.active;
}

function positiveInt(name: string, raw: unknown, fallback: number, min: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^-?\d{1,9}$/.test(raw)) {
    throw new ScimError(400, 'invalidValue', `${name} must be an integer`);
  }
  return Math.max(min, Number(raw));
}

/**
 * SCIM Users (RFC 7644 §3): the resource rules, and what `active` means for the developer the
 * user provisions: false (or DELETE) blocks them, which the deprovisioning outbox carries to the
 * portal and the issued tokens; true unblocks them. Every call is audited with the token's label;
 * a change, the developer's block or unblock it causes, and all their audit events commit in one
 * transaction: a failure anywhere leaves nothing behind (no unaudited change, no deleted or
 * reactivated user whose developer did not follow), and the IdP's retry redoes the whole change
 * (it does not meet a 409 for a user it never got, nor an `active` already true that unblocks
 * nothing).
 */
@Injectable()
export class ScimUsersService {
  constructor(
    private readonly repository: ScimUsersRepository,
    private readonly developers: DevelopersService,
    private readonly audit: AuditService,
    @Inject(provisioningConfig.KEY) private readonly config: ProvisioningConfig,
  ) {}

  async list(query: { filter?: unknown; startIndex?: unknown; count?: unknown }, caller: ScimCaller) {
    if (query.filter !== undefined && typeof query.filter !== 'string') {
      throw new ScimError(400, 'invalidFilter', 'filter must be given once');
    }
    const conditions = query.filter ? parseFilter(query.filter) : [];
    const startIndex = positiveInt('startIndex', query.startIndex, 1, 1);
    const count = Math.min(MAX_COUNT, positiveInt('count', query.count, 100, 0));
    const { total, rows } = await this.repository.list(conditions, startIndex - 1, count, this.scope(caller));
    await this.record('scim.request', caller, null, { operation: 'list', results: rows.length });
    return {
      schemas: [LIST_SCHEMA],
      totalResults: total,
      startIndex,
      itemsPerPage: rows.length,
      Resources: rows.map((r) => toResource(r, caller.baseUrl)),
    };
  }

  async get(id: string, caller: ScimCaller) {
    const user = await this.find(id, caller);
    await this.record('scim.request', caller, user, { operation: 'get' });
    return toResource(user, caller.baseUrl);
  }

  async create(body: unknown, caller: ScimCaller) {
    const fields = fieldsFrom(body);
    const user = await this.repository.transaction(async (m) => {
      if (await this.repository.userNameTaken(m, fields.userName, null)) {
        throw new ScimError(409, 'uniqueness', 'A user with this userName exists');
      }
      const created = await this.repository.insert(m, fields, caller.label);
      const developerId = await this.repository.matchDeveloper(m, created, this.scope(caller).issuer);
      if (developerId) await this.repository.link(m, created.id, developerId);
      const linked = { ...created, developerId };
      await this.record('scim.user_created', caller, linked, { linked: developerId !== null }, m);
      await this.recordActivity(linked, null, caller, m, await this.follow(linked, null, caller, m));
      return linked;
    });
    return toResource(user, caller.baseUrl);
  }

  async replace(id: string, body: unknown, caller: ScimCaller) {
    return this.change(id, caller, (current) => fieldsFrom(body, current));
  }

  async patch(id: string, body: unknown, caller: ScimCaller) {
    return this.change(id, caller, (current) => applyPatch(current, body));
  }

  /**
   * DELETE: the user is gone from SCIM and the developer it provisions stays blocked. The block,
   * the delete and both audit events commit together: a failure leaves the user and the developer
   * as they were for the IdP's retry, never a deleted user whose developer can still sign in, nor
   * a developer blocked by a delete that did not happen.
   */
  async remove(id: string, caller: ScimCaller): Promise<void> {
    await this.repository.transaction(async (m) => {
      const user = await this.findForChange(id, caller, m);
      if (user.developerId) {
        await this.developers.block(user.developerId, this.actor(caller), this.context(caller), m);
      }
      await this.repository.remove(m, user.id);
      await this.record('scim.user_deleted', caller, user, { blocked: user.developerId !== null }, m);
    });
  }

  /**
   * At a developer's login: links the SCIM user provisioned for them (externalId = subject, else
   * a verified email), and refuses the login with `developer_blocked` when that user is inactive.
   * Users of a SCIM client scoped to another issuer (BROKER_SCIM_ISSUERS) are never linked.
   */
  async atLogin(developer: {
    id: string;
    issuer: string;
    subject: string;
    email: string | null;
    emailVerified: boolean;
  }) {
    // SCIM off: no work on the login path.
    if (this.config.scimTokens.length === 0) return;
    const foreign = Object.entries(this.config.scimIssuers)
      .filter(([, issuer]) => issuer !== developer.issuer)
      .map(([label]) => label);
    const user = await this.repository.transaction((m) => this.repository.linkAtLogin(m, developer, foreign));
    if (user && !user.active) {
      await this.developers.block(developer.id, 'system:scim');
      throw new DomainError('developer_blocked', 'This developer account is blocked');
    }
  }

  private async change(id: string, caller: ScimCaller, next: (current: ScimUserFields) => ScimUserFields) {
    const after = await this.repository.transaction(async (m) => {
      const current = await this.findForChange(id, caller, m);
      const fields = next(current);
      if (
        fields.userName.toLowerCase() !== current.userName.toLowerCase() &&
        (await this.repository.userNameTaken(m, fields.userName, current.id))
      ) {
        throw new ScimError(409, 'uniqueness', 'A user with this userName exists');
      }
      const updated = await this.repository.update(m, current.id, fields, caller.label);
      await this.record('scim.user_updated', caller, updated, {}, m);
      await this.recordActivity(updated, current, caller, m, await this.follow(updated, current, caller, m));
      return updated;
    });
    return toResource(after, caller.baseUrl);
  }

  /**
   * Audits a change of `active` (a user created inactive counts as deactivated), in the change's
   * transaction, with what the developer did (`details`, from follow).
   */
  private async recordActivity(
    user: ScimUserRecord,
    before: ScimUserRecord | null,
    caller: ScimCaller,
    m: EntityManager,
    details: Record<string, unknown>,
  ): Promise<void> {
    if (!activeChanged(user, before)) return;
    await this.record(user.active ? 'scim.user_reactivated' : 'scim.user_deactivated', caller, user, details, m);
  }

  /**
   * The developer follows `active`, in the change's transaction (idempotent: block audits only a
   * change). A failed unblock thus fails the reactivation as a whole: SCIM never stores `active:
   * true` for a developer it should have unblocked and left blocked, which the IdP's retry (seeing
   * no change) would not repair.
   *
   * A reactivation lifts only a block this SCIM client made (`blocked_by` `scim:<its label>`) or
   * the login-time block of an inactive SCIM user (`scim`); a block by an admin (API, console),
   * the CLI, the inactivity policy, another SCIM client or of unknown origin stays, and the user
   * still reads `active: true`: `active` is the IdP's wish, which the IdP reads back as it wrote it
   * (answering the developer's state would make it send the same PATCH again on every cycle). The
   * reactivation's audit event says `developer_status: blocked` and the block's origin then.
   */
  private async follow(
    user: ScimUserRecord,
    before: ScimUserRecord | null,
    caller: ScimCaller,
    m: EntityManager,
  ): Promise<Record<string, unknown>> {
    const changed = activeChanged(user, before);
    if (!user.developerId) return {};
    if (user.active && changed) {
      const developer = await this.developers.unblockIfBlockedBy(
        user.developerId,
        [this.actor(caller), 'scim'],
        this.actor(caller),
        this.context(caller),
        m,
      );
      return developer.status === 'active'
        ? { developer_status: 'active' }
        : { developer_status: 'blocked', developer_blocked_by: developer.blockedBy ?? 'unknown' };
    } else if (!user.active) {
      await this.developers.block(user.developerId, this.actor(caller), this.context(caller), m);
    }
    return {};
  }

  /** A user of another client's scope is answered 404, as one that does not exist. */
  private async find(id: string, caller: ScimCaller): Promise<ScimUserRecord> {
    return this.found(id, UUID.test(id) ? await this.repository.find(id.toLowerCase(), this.scope(caller)) : null);
  }

  /**
   * The user, locked for a change that may block or unblock its developer in the same
   * transaction. The developer's row is locked first: an erasure locks the developer and then
   * deletes this user, so taking the user first could deadlock with it. (A user linked at a login
   * between the two reads is locked without its developer first: a far narrower window, and
   * Postgres still resolves a deadlock by failing one side.)
   */
  private async findForChange(id: string, caller: ScimCaller, m: EntityManager): Promise<ScimUserRecord> {
    const key = id.toLowerCase();
    const scope = this.scope(caller);
    const seen = this.found(id, UUID.test(id) ? await this.repository.find(key, scope, m) : null);
    if (seen.developerId) await this.developers.lock(seen.developerId, m);
    return this.found(id, await this.repository.find(key, scope, m, true));
  }

  private found(id: string, user: ScimUserRecord | null): ScimUserRecord {
    if (!user) throw new ScimError(404, null, `No User with id ${id.slice(0, 100)}`);
    return user;
  }

  /** The caller's scope: its issuer when BROKER_SCIM_ISSUERS names its label, else unscoped. */
  private scope(caller: ScimCaller): ScimScope {
    const issuers = this.config.scimIssuers;
    return { client: caller.label, issuer: Object.hasOwn(issuers, caller.label) ? issuers[caller.label] : null };
  }

  private actor(caller: ScimCaller): string {
    return `scim:${caller.label}`;
  }

  private context(caller: ScimCaller) {
    return { ip: caller.ip, userAgent: caller.userAgent, requestId: caller.requestId };
  }

  private async record(
    type: AuditEventType,
    caller: ScimCaller,
    user: ScimUserRecord | null,
    details: Record<string, unknown>,
    m?: EntityManager,
  ): Promise<void> {
    await this.audit.record(
      {
        type,
        outcome: 'success',
        actor: this.actor(caller),
        target: user ? `scim-user:${user.id}` : 'scim:/Users',
        developerId: user?.developerId ?? null,
        ip: caller.ip,
        userAgent: caller.userAgent,
        requestId: caller.requestId,
        details,
      },
      m,
    );
  }
}
