import {
  DevelopersService,
  type Developer,
  type DeveloperChange,
  type DeveloperChangeHook,
  type PortalSyncState,
} from '@app/developers';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DeprovisioningRepository, type OutboxAction } from './deprovisioning.repository.js';
import { DeprovisioningWorker } from './deprovisioning.worker.js';

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
  ) {}

  onModuleInit(): void {
    this.developers.onChange(this);
  }

  async changed(
    m: EntityManager,
    event: { developer: Developer; change: DeveloperChange; actor: string; subject: string; email: string | null },
  ): Promise<void> {
    const action = ACTION[event.change];
    await this.repository.enqueue(m, {
      developerId: event.developer.id,
      action,
      portalUserId: event.developer.portalUserId,
      // Reactivation revokes nothing, so it needs no subject.
      subject: action === 'reactivate' ? null : event.subject,
      // Before the login links a portal user, the worker finds it by email (gone after an erasure).
      email: event.email,
      actor: event.actor,
    });
    this.worker.kickSoon();
  }

  portalSync(id: string): Promise<PortalSyncState | null> {
    return this.repository.state(id);
  }
}
