import { AuditService } from '@app/audit';
import {
  DevelopersService,
  type DeveloperChange,
  type DeveloperChangeEvent,
  type DeveloperChangeHook,
  type PortalSyncState,
} from '@app/developers';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DeprovisioningRepository, type OutboxAction } from './deprovisioning.repository.js';
import { DeprovisioningWorker } from './deprovisioning.worker.js';
import { ScimUsersRepository } from './scim/scim-users.repository.js';

const ACTION: Record<DeveloperChange, OutboxAction> = {
  blocked: 'deactivate',
  unblocked: 'reactivate',
  erased: 'delete',
};

/**
 * What a block, unblock or erase of a developer means outside the broker. The change itself (the
 * login refusal) is immediate; the portal user's `Active`, its deletion and the revocation of
 * issued tokens are written to the outbox in the change's own transaction and carried out by the
 * worker, so a portal outage delays them but cannot lose them.
 */
@Injectable()
export class DeprovisioningService implements DeveloperChangeHook, OnModuleInit {
  constructor(
    private readonly developers: DevelopersService,
    private readonly repository: DeprovisioningRepository,
    private readonly worker: DeprovisioningWorker,
    private readonly scimUsers: ScimUsersRepository,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.developers.onChange(this);
  }

  /**
   * Keeps in the outbox only what the worker needs: the subject only for a deactivation (its
   * tokens are still in `issued_tokens`, found by subject); an erasure brings its tokens along
   * (taken out of `issued_tokens`, still sealed), so its row has no subject; the email only while
   * no portal user id is known (it is how the worker finds the portal account).
   *
   * An erasure also deletes the SCIM user provisioned for the developer (its userName, emails,
   * names and externalId are their personal data), in the erasure's transaction: the SCIM client
   * then gets 404 for it, and provisioning the person again makes a new user.
   */
  async changed(m: EntityManager, event: DeveloperChangeEvent): Promise<void> {
    if (event.change === 'erased') {
      const scimUserId = await this.scimUsers.removeForDeveloper(m, event.developer.id);
      if (scimUserId) {
        await this.audit.record(
          {
            type: 'scim.user_deleted',
            outcome: 'success',
            actor: event.actor,
            target: `scim-user:${scimUserId}`,
            developerId: event.developer.id,
            details: { developer_erased: true },
          },
          m,
        );
      }
    }
    const action = ACTION[event.change];
    const portalUserId = event.developer.portalUserId;
    await this.repository.enqueue(m, {
      developerId: event.developer.id,
      action,
      portalUserId,
      subject: action === 'deactivate' ? event.subject : null,
      email: portalUserId ? null : event.email,
      tokens: event.tokens.length > 0 ? event.tokens : null,
      actor: event.actor,
    });
    this.worker.kickSoon();
  }

  portalSync(id: string): Promise<PortalSyncState | null> {
    return this.repository.state(id);
  }
}
