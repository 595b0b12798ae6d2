import { AuditService, type AuditEventType, type AuditOutcome } from '@app/audit';
import { DomainError, isConsumerRole, isDomainError } from '@app/common';
import { portalConfig, provisioningConfig, type PortalConfig, type ProvisioningConfig } from '@app/config';
import { TykPortalClient, type PortalUser } from '@app/tyk-portal';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DeprovisioningRepository, type OutboxAction, type OutboxWork } from './deprovisioning.repository.js';
import { TOKEN_REVOKER, type RevocationReport, type TokenRevoker } from './token-revoker.js';

/** The audit event of each action's portal effect. */
const EFFECT: Record<OutboxAction, AuditEventType> = {
  deactivate: 'portal.developer_deactivated',
  reactivate: 'portal.developer_reactivated',
  delete: 'portal.developer_deleted',
};

/** Rows per pass, claimed and worked one at a time (each under its own lease). */
const BATCH = 20;

/**
 * The most portal (or Dashboard) calls made between two checks of the lease. The portal step
 * checks, and renews, the lease before every call it makes (each team-list page, the user's read,
 * each write: TykManagementApiClient.setUserActive's checkpoint), so one call runs between two
 * checks there; the margin covers a token revocation between checks (one Dashboard call per
 * token) for a developer with a few tokens. Longer gaps (many tokens, the email lookup's walk of
 * the whole user list) may outlast the lease: another worker may then take the row, and this one
 * stops at its next check, before any further effect.
 */
export const CALLS_PER_LEASE = 4;

/** Longest backoff between two attempts of one call (tyk-http.ts BACKOFF_MAX_MS). */
const MAX_BACKOFF_MS = 2000;

/**
 * The lease a claim takes and each check renews, in seconds: CALLS_PER_LEASE calls, each with
 * every attempt running to its deadline and the backoff between attempts, plus 30 s of slack.
 */
export function leaseSecondsFor(portal: Pick<PortalConfig, 'timeoutMs' | 'retries'>): number {
  const callMs = portal.timeoutMs * (portal.retries + 1) + MAX_BACKOFF_MS * portal.retries;
  return Math.ceil((callMs * CALLS_PER_LEASE) / 1000) + 30;
}

/** This claim no longer holds its row (lease run out and maybe claimed by another worker, or a newer wish). */
class LeaseLost extends Error {}

/**
 * Carries the deprovisioning outbox out: on every instance, every `pollMs`, claims due rows one
 * at a time (FOR UPDATE SKIP LOCKED with a lease under a token of its own), revokes issued tokens,
 * sets the portal user inactive/active or deletes it, audits each effect, and marks the row done,
 * or failed with the error and a retry after an exponential backoff (capped). Right before each
 * effect the worker checks that its claim still holds the row at the claimed version and extends
 * the lease; when not (its lease ran out under a slow portal and another worker took the row, or a
 * newer wish arrived) it stops, so a stale action is never applied after a newer one and no row is
 * worked twice at once. A portal account that is not a developer's (an admin's) is never touched:
 * the row fails without retry. Every effect is idempotent: a user already in the wanted state, a
 * missing user, a token already forgotten all count as done. A token that cannot be revoked (see
 * UnrevokableReason) is audited `token.revoked` with outcome failure and its reason, and does not
 * hold the row back: no retry would change it.
 */
@Injectable()
export class DeprovisioningWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(DeprovisioningWorker.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly repository: DeprovisioningRepository,
    private readonly portal: TykPortalClient,
    private readonly audit: AuditService,
    @Inject(TOKEN_REVOKER) private readonly tokens: TokenRevoker,
    @Inject(provisioningConfig.KEY) private readonly config: ProvisioningConfig,
    @Inject(portalConfig.KEY) private readonly portalSettings: PortalConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(this.config.outboxPollMs);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** A change was just enqueued: look again shortly instead of waiting for the next poll. */
  kickSoon(): void {
    if (!this.stopped) this.schedule(50);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (!this.running) {
      this.running = this.runOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.warn(`outbox pass failed: ${(error as Error).message}`))
        .finally(() => (this.running = null));
    }
    await this.running;
    this.schedule(this.config.outboxPollMs);
  }

  /** One pass over the due rows; returns how many were done. Exposed for tests and the CLI. */
  async runOnce(): Promise<number> {
    const leaseSeconds = leaseSecondsFor(this.portalSettings);
    let done = 0;
    for (let n = 0; n < BATCH; n++) {
      const [work] = await this.repository.claim(1, leaseSeconds);
      if (!work) break;
      try {
        const refusal = await this.perform(work, leaseSeconds);
        if (refusal !== null) await this.repository.refuse(work, refusal);
        else if (await this.repository.complete(work)) done++;
      } catch (error) {
        if (error instanceof LeaseLost) {
          this.logger.warn(
            `developer ${work.developerId}: ${work.action} (version ${work.version}) stopped: the row was taken over or changed meanwhile`,
          );
          await this.repository.release(work);
          continue;
        }
        const message = isDomainError(error) ? `${error.code}: ${error.message}` : (error as Error).message;
        const { retryBaseMs, retryMaxMs } = this.config;
        const delayMs = Math.min(retryMaxMs, retryBaseMs * 2 ** Math.min(work.attempts - 1, 30));
        this.logger.warn(
          `developer ${work.developerId}: ${work.action} not done yet (${message}); retry in ${delayMs} ms`,
        );
        await this.repository.fail(work, message, delayMs / 1000);
      }
    }
    return done;
  }

  /** Throws LeaseLost unless this claim still holds the row at its version (and extends the lease). */
  private async stillHeld(work: OutboxWork, leaseSeconds: number): Promise<void> {
    if (!(await this.repository.hold(work, leaseSeconds))) throw new LeaseLost();
  }

  /** Carries the row's work out; null when done, or why it was refused (not to be retried). */
  private async perform(work: OutboxWork, leaseSeconds: number): Promise<string | null> {
    // Each revocation is audited as it happens: a later failure must not lose the earlier ones. A
    // token that cannot be revoked is audited as a failure with the reason, never as revoked.
    const report = async (r: RevocationReport) => {
      if (r.outcome === 'success') return this.record('token.revoked', work, { profile_id: r.profileId });
      this.logger.warn(
        `developer ${work.developerId}: a token issued under profile ${r.profileId} cannot be revoked (${r.reason}); it stays valid until it expires`,
      );
      await this.record('token.revoked', work, { profile_id: r.profileId }, { outcome: 'failure', reason: r.reason });
    };
    if (work.action !== 'reactivate' && work.subject) {
      await this.stillHeld(work, leaseSeconds);
      await this.tokens.revokeFor(work.subject, work.developerId, report);
    }
    if (work.tokens && work.tokens.length > 0) {
      await this.stillHeld(work, leaseSeconds);
      await this.tokens.revokeSealed(work.tokens, report);
      await this.repository.tokensRevoked(work);
    }
    let portalUserId = work.portalUserId;
    if (!portalUserId && work.email) {
      await this.stillHeld(work, leaseSeconds);
      portalUserId = await this.portal.findUserIdByEmail(work.email);
      if (portalUserId) await this.repository.portalUserFound(work, portalUserId);
    }
    if (!portalUserId) return null;
    const type = EFFECT[work.action];
    if (work.action === 'delete') {
      await this.stillHeld(work, leaseSeconds);
      const user = await this.portal.getUser(portalUserId);
      if (user && !isConsumerRole(user.Role)) return this.refuseAccount(work, portalUserId, user, leaseSeconds);
      // Right before the write: a claim that lost the row (slow portal) or whose wish is stale stops here.
      await this.stillHeld(work, leaseSeconds);
      const result = user ? await this.portal.deleteUser(portalUserId) : 'not_found';
      await this.record(type, work, { portal_user_id: portalUserId, result });
      return null;
    }
    const active = work.action === 'reactivate';
    // setUserActive reads the user last, right before the write (a role or team change made
    // meanwhile is kept, not reverted), checks its role on that read, and the lease is checked and
    // renewed before every portal call of the step (a claim that lost the row stops there).
    const result = await this.portal.setUserActive(portalUserId, active, {
      accept: (current) => isConsumerRole(current.Role),
      checkpoint: () => this.stillHeld(work, leaseSeconds),
    });
    if (result.outcome === 'refused') return this.refuseAccount(work, portalUserId, result.user, leaseSeconds);
    if (result.user && result.user.Active !== active) {
      throw new DomainError('portal_rejected', `the portal kept user ${portalUserId} Active=${result.user.Active}`);
    }
    await this.record(type, work, { portal_user_id: portalUserId, portal_user_found: result.user !== null });
    return null;
  }

  /**
   * The developer row points at an account that is not a developer's (a developer login matched
   * an admin's email, the email lookup found one, or the account was promoted meanwhile):
   * deprovisioning must never lock out or delete it. Audited; the row is refused, not retried.
   */
  private async refuseAccount(
    work: OutboxWork,
    portalUserId: string,
    user: PortalUser,
    leaseSeconds: number,
  ): Promise<string> {
    await this.stillHeld(work, leaseSeconds);
    this.logger.warn(
      `developer ${work.developerId}: ${work.action} of portal user ${portalUserId} refused: role ${user.Role} is not a developer's`,
    );
    await this.record(
      EFFECT[work.action],
      work,
      { portal_user_id: portalUserId, portal_role: user.Role },
      { outcome: 'failure', reason: 'portal_user_not_developer' },
    );
    return `portal_user_not_developer: portal user ${portalUserId} has role ${user.Role}, not a developer's; deprovisioning never changes an admin account`;
  }

  private async record(
    type: AuditEventType,
    work: OutboxWork,
    details: Record<string, unknown>,
    result: { outcome: AuditOutcome; reason?: string } = { outcome: 'success' },
  ): Promise<void> {
    await this.audit.record({
      type,
      ...result,
      actor: work.actor ?? 'system',
      target: `developer:${work.developerId}`,
      developerId: work.developerId,
      details: { ...details, attempts: work.attempts },
    });
  }
}
