import { AuditService } from '@app/audit';
import { provisioningConfig, type ProvisioningConfig } from '@app/config';
import { DevelopersService, type Developer } from '@app/developers';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** pg advisory lock (two-int form) held by the one instance running the policy. */
const LOCK = [16016, 1] as const;
const ACTOR = 'system:inactivity';

/**
 * The inactivity policy (BROKER_DEPROVISION_INACTIVE_DAYS; 0 = off): every interval, on whichever
 * instance takes the advisory lock first (the others skip that round), active developers with no
 * login (nor unblock) for that many days are blocked, which the outbox carries to the portal and
 * the tokens, and audited as `developer.deactivated_inactive`. Each block is conditional (see
 * DevelopersService.blockInactive): a developer who signed in or was unblocked after the list was
 * read is left alone, and nothing is audited or enqueued for them.
 */
@Injectable()
export class InactivityJob implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(InactivityJob.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly developers: DevelopersService,
    private readonly audit: AuditService,
    @Inject(provisioningConfig.KEY) private readonly config: ProvisioningConfig,
  ) {}

  onApplicationBootstrap(): void {
    const { inactiveDays, inactiveIntervalMs } = this.config;
    if (inactiveDays === 0) return;
    this.timer = setInterval(() => {
      this.running ??= this.run()
        .catch((error: unknown) => this.logger.warn(`inactivity policy run failed: ${(error as Error).message}`))
        .finally(() => (this.running = null));
    }, inactiveIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Who the policy would deactivate now (the CLI's --dry-run); empty when the policy is off. */
  candidates(): Promise<Developer[]> {
    const days = this.config.inactiveDays;
    return days === 0 ? Promise.resolve([]) : this.developers.listInactive(days);
  }

  /**
   * One round; `ran` false when another instance holds the lock (or the policy is off);
   * `deactivated` the developers this round actually blocked.
   */
  async run(): Promise<{ ran: boolean; deactivated: string[] }> {
    const days = this.config.inactiveDays;
    if (days === 0) return { ran: false, deactivated: [] };
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const rows = (await runner.query('SELECT pg_try_advisory_lock($1, $2) AS locked', [...LOCK])) as {
        locked: boolean;
      }[];
      const locked = rows[0]?.locked === true;
      if (!locked) return { ran: false, deactivated: [] };
      try {
        const deactivated: string[] = [];
        for (const candidate of await this.developers.listInactive(days)) {
          // The list is a snapshot: the block re-checks status and last activity as it writes, and
          // the block, its audit events and its outbox row commit together, or not at all.
          const developer = await this.dataSource.transaction(async (m) => {
            const blocked = await this.developers.blockInactive(candidate.id, days, ACTOR, m);
            if (!blocked) return null;
            await this.audit.record(
              {
                type: 'developer.deactivated_inactive',
                outcome: 'success',
                actor: ACTOR,
                target: `developer:${blocked.id}`,
                developerId: blocked.id,
                organisationId: blocked.organisationId,
                details: { inactive_days: days, last_login_at: blocked.lastLoginAt?.toISOString() ?? null },
              },
              m,
            );
            return blocked;
          });
          if (developer) deactivated.push(developer.id);
        }
        if (deactivated.length > 0) {
          this.logger.log(`inactivity policy: ${deactivated.length} developer(s) deactivated`);
        }
        return { ran: true, deactivated };
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1, $2)', [...LOCK]);
      }
    } finally {
      await runner.release();
    }
  }
}
