import { AuditService, AuditStatsService } from '@app/audit';
import { DomainError, isDomainError } from '@app/common';
import { DevelopersService, OrganisationLinksService } from '@app/developers';
import { ProfilesService } from '@app/profiles';
import { Injectable } from '@nestjs/common';
import type { ConsoleSession } from './console-session.service.js';
import { messagePage } from './views/layout.js';
import {
  developerPage,
  developersPage,
  eventsPage,
  overviewPage,
  profilePage,
  profilesPage,
  type EventFilterValues,
} from './views/pages.js';

const DAY_MS = 86_400_000;

/** Fetches each page's data from the libs' services (the API's own) and renders it. */
@Injectable()
export class ConsoleViewsService {
  constructor(
    private readonly audit: AuditService,
    private readonly stats: AuditStatsService,
    private readonly developersService: DevelopersService,
    private readonly organisationLinks: OrganisationLinksService,
    private readonly profilesService: ProfilesService,
  ) {}

  async overview(session: ConsoleSession): Promise<string> {
    const [overview, sealingLagSeconds, lastVerify, checkpoints, checkpointState, fullVerify] = await Promise.all([
      this.stats.overview(7),
      this.audit.sealingLagSeconds(),
      // Every full verify (scheduled, API, CLI or this console, on any replica) is recorded as an
      // event; one the runtime role forged is shown as not trusted.
      this.audit.lastFullVerify(),
      this.audit.checkpoints({ limit: '1' }),
      this.audit.checkpointState(),
      this.audit.fullVerifyState(),
    ]);
    return overviewPage(session, overview, {
      sealingLagSeconds,
      lastVerify,
      lastCheckpoint: checkpoints.data[0] ?? null,
      checkpointState,
      fullVerifyOverdue: fullVerify?.fullVerifyOverdue ?? null,
    });
  }

  /** A full verify on demand, recorded as `audit.verified` by the staff member who asked. */
  async verifyChain(session: ConsoleSession): Promise<void> {
    try {
      await this.audit.verify({}, { recordAs: `staff:${session.subject}` });
    } catch (e) {
      // The per-instance limit (details.limit) says so itself; this is for the full verify's lock.
      if (isDomainError(e) && e.code === 'verify_running' && e.details?.limit === undefined) {
        throw new DomainError(
          'verify_running',
          'A full verify of the audit log is already running (started here, through the API or by the schedule, ' +
            'on this or another instance). Its result appears in the Audit chain card of the overview when it finishes.' +
            (e.details?.fullVerify === 'overdue'
              ? ' But no full verify has completed for too long: the lock may be held on purpose (see the overview).'
              : ''),
        );
      }
      throw e;
    }
  }

  async events(session: ConsoleSession, filters: EventFilterValues, cursor?: string): Promise<string> {
    const page = await this.audit.query({ ...filters, limit: filters.limit ?? '50', cursor });
    return eventsPage(session, filters, page);
  }

  async developers(session: ConsoleSession, email: string, cursor?: string): Promise<string> {
    const page = await this.developersService.list({ email: email || undefined, cursor, limit: 50 });
    return developersPage(session, email, page.data, page.next_cursor);
  }

  async developer(session: ConsoleSession, id: string): Promise<string> {
    const developer = await this.developersService.get(id);
    // Portal placement: the portal organisation and team that organisation sync made for the
    // developer's organisation (the link the login flow uses), if any.
    const [logins, link] = await Promise.all([
      this.developersService.loginHistory(id, undefined, 100),
      developer.organisationId?.trim() ? this.organisationLinks.find(developer.issuer, developer.organisationId) : null,
    ]);
    // Per-day counts of the login history page (the last 100 logins) over 30 days.
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    const days = Array.from({ length: 30 }, (_, i) => ({
      day: new Date(today - (29 - i) * DAY_MS).toISOString(),
      ok: 0,
      failed: 0,
    }));
    for (const e of logins.data) {
      const day = days[29 - Math.floor((today - Math.floor(Date.parse(e.occurred_at) / DAY_MS) * DAY_MS) / DAY_MS)];
      if (!day) continue;
      if (e.outcome === 'success') day.ok += 1;
      else day.failed += 1;
    }
    return developerPage(session, developer, link, logins, days);
  }

  async profiles(session: ConsoleSession): Promise<string> {
    return profilesPage(session, await this.profilesService.list());
  }

  async profile(session: ConsoleSession, id: string): Promise<string> {
    return profilePage(session, await this.profilesService.get(id));
  }

  signedOut(): string {
    return messagePage('Signed out', 'You have signed out of the security console.', {
      href: '/console',
      label: 'Sign in again',
    });
  }
}
