import { AuditService, type AuditEventInput } from '@app/audit';
import { DomainError, LruCache } from '@app/common';
import { preparedQuery, preparedStatement } from '@app/database';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** The portal organisation (and team) made for a Cloudentity organisation. */
export interface OrganisationLink {
  cloudentityOrgId: string;
  portalOrgId: string;
  portalTeamId: string | null;
  createdAt: Date;
}

/** Creates the portal organisation (and team) for a Cloudentity organisation. */
export type CreatePortalOrganisation = () => Promise<{ portalOrgId: string; portalTeamId?: string | null }>;

/** Request facts for the `portal.organisation_created` event (actor defaults to `system`). */
export type OrganisationClaimContext = Pick<
  AuditEventInput,
  'actor' | 'developerId' | 'profileId' | 'ip' | 'userAgent' | 'requestId'
>;

interface LinkRow {
  cloudentity_org_id: string;
  portal_org_id: string;
  portal_team_id: string | null;
  created_at: Date;
}

const toLink = (r: LinkRow): OrganisationLink => ({
  cloudentityOrgId: r.cloudentity_org_id,
  portalOrgId: r.portal_org_id,
  portalTeamId: r.portal_team_id,
  createdAt: r.created_at,
});

const SELECT = `SELECT cloudentity_org_id, portal_org_id, portal_team_id, created_at FROM portal_org_links WHERE cloudentity_org_id = $1`;
const FIND_LINK = preparedStatement('portal_org_links.find', SELECT);

/**
 * Links are only ever inserted, so a found link is kept in memory (bounded) instead of being read
 * on every login. The TTL bounds how long a row removed by hand in SQL is still used.
 */
const LINK_CACHE_TTL_MS = 5 * 60 * 1000;
const LINK_CACHE_MAX = 10_000;

function orgKey(orgId: string): string {
  if (typeof orgId !== 'string' || orgId.trim() === '' || orgId.length > 200) {
    throw new DomainError('validation_failed', 'organisation id: expected 1 to 200 characters', {
      parameter: 'organisation',
    });
  }
  return orgId;
}

/**
 * Cloudentity organisation → portal organisation links. `claim` makes sure that concurrent first
 * logins from one new organisation (on any broker instance) create exactly one portal
 * organisation.
 */
@Injectable()
export class OrganisationLinksService {
  private readonly known = new LruCache<string, { link: OrganisationLink; at: number }>(LINK_CACHE_MAX);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async find(orgId: string): Promise<OrganisationLink | null> {
    const key = orgKey(orgId);
    const hit = this.known.get(key);
    if (hit && Date.now() - hit.at < LINK_CACHE_TTL_MS) return hit.link;
    const rows = await preparedQuery<LinkRow>(this.dataSource, FIND_LINK, [key]);
    if (!rows[0]) {
      this.known.delete(key);
      return null;
    }
    return this.remember(toLink(rows[0]));
  }

  private remember(link: OrganisationLink): OrganisationLink {
    this.known.set(link.cloudentityOrgId, { link, at: Date.now() });
    return link;
  }

  private async findWith(m: EntityManager, orgId: string): Promise<OrganisationLink | null> {
    const rows = await m.query<LinkRow[]>(SELECT, [orgId]);
    return rows[0] ? toLink(rows[0]) : null;
  }

  /**
   * Returns the organisation's link, calling `create` only when there is none yet. Concurrent
   * callers for the same organisation queue on a transaction-scoped advisory lock keyed on the
   * organisation id, re-check, and only the first one creates; the link is inserted and
   * `portal.organisation_created` audited in the same transaction. If `create` throws, nothing
   * is stored and the next caller tries again. (The lock is held while `create` calls the
   * portal: only first logins of that one organisation wait.)
   */
  async claim(
    orgId: string,
    create: CreatePortalOrganisation,
    context: OrganisationClaimContext = {},
  ): Promise<{ link: OrganisationLink; created: boolean }> {
    const key = orgKey(orgId);
    const existing = await this.find(key);
    if (existing) return { link: existing, created: false };
    const claimed = await this.dataSource.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtext('broker.portal_org_links'), hashtext($1))`, [key]);
      const again = await this.findWith(m, key);
      if (again) return { link: again, created: false };
      const made = await create();
      if (!made || typeof made.portalOrgId !== 'string' || made.portalOrgId === '') {
        throw new Error('OrganisationLinksService.claim: create() returned no portal organisation id');
      }
      const rows = await m.query<LinkRow[]>(
        `INSERT INTO portal_org_links (cloudentity_org_id, portal_org_id, portal_team_id) VALUES ($1, $2, $3)
         RETURNING cloudentity_org_id, portal_org_id, portal_team_id, created_at`,
        [key, made.portalOrgId, made.portalTeamId ?? null],
      );
      const link = toLink(rows[0]);
      await this.audit.record(
        {
          type: 'portal.organisation_created',
          outcome: 'success',
          actor: context.actor ?? 'system',
          target: `portal-organisation:${link.portalOrgId}`,
          organisationId: key,
          developerId: context.developerId ?? null,
          profileId: context.profileId ?? null,
          ip: context.ip ?? null,
          userAgent: context.userAgent ?? null,
          requestId: context.requestId ?? null,
          details: { portal_org_id: link.portalOrgId, portal_team_id: link.portalTeamId },
        },
        m,
      );
      return { link, created: true };
    });
    this.remember(claimed.link);
    return claimed;
  }
}
