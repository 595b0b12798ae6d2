import { AuditService, type AuditEventType } from '@app/audit';
import { DomainError, isDomainError } from '@app/common';
import { portalConfig, provisioningConfig, type PortalConfig, type ProvisioningConfig } from '@app/config';
import { TykPortalClient } from '@app/tyk-portal';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DeprovisioningRepository, type OutboxWork } from './deprovisioning.repository.js';
import { TOKEN_REVOKER, type TokenRevoker } from './token-revoker.js';

/** Rows per pass; the portal calls of one pass run one after another. */
const BATCH = 20;

/**
 * Carries the deprovisioning outbox out: on every instance, every `pollMs`, claims due rows
 * (FOR UPDATE SKIP LOCKED with a lease), sets the portal user inactive/active or deletes it,
 * revokes issued tokens, audits each effect, and marks the row done, or failed with the error and
 * a retry after an exponential backoff (capped). Every effect is idempotent: a user already in the
 * wanted state, a missing user, a token already forgotten all count as done.
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
    const leaseSeconds = Math.ceil((this.portalSettings.timeoutMs * (this.portalSettings.retries + 1) * 4) / 1000) + 30;
    const batch = await this.repository.claim(BATCH, leaseSeconds);
    let done = 0;
    for (const work of batch) {
      try {
        await this.perform(work);
        if (await this.repository.complete(work)) done++;
      } catch (error) {
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

  private async perform(work: OutboxWork): Promise<void> {
    // Each revocation is audited as it happens: a later failure must not lose the earlier ones.
    const revoked = ({ profileId }: { profileId: string }) =>
      this.record('token.revoked', work, { profile_id: profileId });
    if (work.action !== 'reactivate' && work.subject) {
      await this.tokens.revokeFor(work.subject, revoked);
    }
    if (work.tokens && work.tokens.length > 0) {
      await this.tokens.revokeSealed(work.tokens, revoked);
      await this.repository.tokensRevoked(work);
    }
    let portalUserId = work.portalUserId;
    if (!portalUserId && work.email) {
      portalUserId = await this.portal.findUserIdByEmail(work.email);
      if (portalUserId) await this.repository.portalUserFound(work, portalUserId);
    }
    if (!portalUserId) return;
    switch (work.action) {
      case 'deactivate':
      case 'reactivate': {
        const active = work.action === 'reactivate';
        const user = await this.portal.setUserActive(portalUserId, active);
        if (user && user.Active !== active) {
          throw new DomainError('portal_rejected', `the portal kept user ${portalUserId} Active=${user.Active}`);
        }
        await this.record(active ? 'portal.developer_reactivated' : 'portal.developer_deactivated', work, {
          portal_user_id: portalUserId,
          portal_user_found: user !== null,
        });
        return;
      }
      case 'delete': {
        const result = await this.portal.deleteUser(portalUserId);
        await this.record('portal.developer_deleted', work, { portal_user_id: portalUserId, result });
        return;
      }
    }
  }

  private async record(type: AuditEventType, work: OutboxWork, details: Record<string, unknown>): Promise<void> {
    await this.audit.record({
      type,
      outcome: 'success',
      actor: work.actor ?? 'system',
      target: `developer:${work.developerId}`,
      developerId: work.developerId,
      details: { ...details, attempts: work.attempts },
    });
  }
}
