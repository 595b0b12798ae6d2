import { AuditService, type AuditEventInput } from '@app/audit';
import { DomainError, LruCache } from '@app/common';
import { Injectable } from '@nestjs/common';
import type { OrganisationLink } from './entities/portal-org-link.entity.js';
import { OrganisationLinksRepository } from './organisation-links.repository.js';

export type { OrganisationLink } from './entities/portal-org-link.entity.js';

/** What `claim` hands to its CreatePortalOrganisation (the port's OrganisationCreateAttempt). */
export interface PortalOrganisationAttempt {
  /** Names earlier attempts sent to the portal whose outcome is unknown (no link was stored). */
  pendingNames: readonly string[];
  /** Records, committed before the POST, that an organisation of this name is being created. */
  recordIntent(name: string): Promise<void>;
  /** Which of these portal organisation ids a link already owns. */
  linked(portalOrgIds: readonly string[]): Promise<ReadonlySet<string>>;
}

/**
 * Creates the portal organisation (and team) for a Cloudentity organisation, or adopts the one an
 * earlier attempt made (`adopted`).
 */
export type CreatePortalOrganisation = (
  attempt: PortalOrganisationAttempt,
) => Promise<{ portalOrgId: string; portalTeamId?: string | null; adopted?: boolean }>;

/** Request facts for the `portal.organisation_created` event (actor defaults to `system`). */
export type OrganisationClaimContext = Pick<
  AuditEventInput,
  'actor' | 'developerId' | 'profileId' | 'ip' | 'userAgent' | 'requestId'
>;

/**
 * Links are only ever inserted, so a found link is kept in memory (bounded) instead of being read
 * on every login. The TTL bounds how long a row removed by hand in SQL is still used.
 */
const LINK_CACHE_TTL_MS = 5 * 60 * 1000;
const LINK_CACHE_MAX = 10_000;

function issuerKey(issuer: string): string {
  if (typeof issuer !== 'string' || issuer === '' || issuer.length > 500 || issuer.includes('\0')) {
    throw new DomainError('validation_failed', 'issuer: expected 1 to 500 characters', { parameter: 'issuer' });
  }
  return issuer;
}

/** The cache key of (issuer, organisation id): length-prefixed, so no two pairs share one. */
const cacheKey = (issuer: string, orgId: string) => `${issuer.length}:${issuer}${orgId}`;

function orgKey(orgId: string): string {
  if (typeof orgId !== 'string' || orgId.trim() === '' || orgId.length > 200 || orgId.includes('\0')) {
    throw new DomainError('validation_failed', 'organisation id: expected 1 to 200 characters', {
      parameter: 'organisation',
    });
  }
  return orgId;
}

/**
 * (issuer, Cloudentity organisation) → portal organisation links. `claim` makes sure that
 * concurrent first logins from one new organisation (on any broker instance) create exactly one
 * portal organisation. Two IdPs' organisations with the same id are two links.
 */
@Injectable()
export class OrganisationLinksService {
  private readonly known = new LruCache<string, { link: OrganisationLink; at: number }>(LINK_CACHE_MAX);

  constructor(
    private readonly links: OrganisationLinksRepository,
    private readonly audit: AuditService,
  ) {}

  async find(issuer: string, orgId: string): Promise<OrganisationLink | null> {
    const iss = issuerKey(issuer);
    const key = orgKey(orgId);
    const hit = this.known.get(cacheKey(iss, key));
    if (hit && Date.now() - hit.at < LINK_CACHE_TTL_MS) return hit.link;
    const link = await this.links.find(iss, key);
    if (!link) {
      this.known.delete(cacheKey(iss, key));
      return null;
    }
    return this.remember(link);
  }

  private remember(link: OrganisationLink): OrganisationLink {
    this.known.set(cacheKey(link.issuer, link.cloudentityOrgId), { link, at: Date.now() });
    return link;
  }

  /**
   * Returns the organisation's link, calling `create` only when there is none yet. Concurrent
   * callers for the same organisation queue on an advisory lock keyed on the organisation id,
   * re-check, and only the first one creates; the link is inserted, the intents deleted and
   * `portal.organisation_created` audited in one transaction. If `create` throws, no link is
   * stored and the next caller tries again, but an intent `create` recorded before calling the
   * portal stays: the next `create` gets its names (`pendingNames`) and may adopt what the
   * portal made (the answer was lost); an adopted organisation a link owns is refused. (The lock
   * is held while `create` calls the portal: only first logins of that one organisation wait.) A link from before links had an
   * issuer (issuer '', see the PortalOrgLinksByIssuer migration) is adopted by the first issuer
   * that claims its organisation id, instead of creating a second portal organisation.
   */
  async claim(
    issuer: string,
    orgId: string,
    create: CreatePortalOrganisation,
    context: OrganisationClaimContext = {},
  ): Promise<{ link: OrganisationLink; created: boolean }> {
    const iss = issuerKey(issuer);
    const key = orgKey(orgId);
    const existing = await this.find(iss, key);
    if (existing) return { link: existing, created: false };
    const lockKey = cacheKey(iss, key);
    const claimed = await this.links.withOrganisationLock(lockKey, async (session) => {
      const again = await this.links.find(iss, key, session);
      if (again) return { link: again, created: false };
      const adopted = await this.links.adoptUnscoped(iss, key, session);
      if (adopted) return { link: adopted, created: false };
      const made = await create({
        pendingNames: await this.links.pendingNames(iss, key, session),
        recordIntent: (name) => this.links.recordIntent(iss, key, name, session),
        linked: (ids) => this.links.linkedPortalOrganisations(ids, session),
      });
      if (!made || typeof made.portalOrgId !== 'string' || made.portalOrgId === '') {
        throw new Error('OrganisationLinksService.claim: create() returned no portal organisation id');
      }
      return session.transaction(async (m) => {
        if (made.adopted) {
          await this.links.lockPortalOrganisation(made.portalOrgId, m);
          if ((await this.links.linkedPortalOrganisations([made.portalOrgId], m)).size > 0) {
            throw new DomainError(
              'portal_rejected',
              `Portal organisation ${made.portalOrgId} was adopted by another organisation meanwhile`,
              { portalOrgId: made.portalOrgId },
            );
          }
        }
        const link = await this.links.insert(
          {
            issuer: iss,
            cloudentityOrgId: key,
            portalOrgId: made.portalOrgId,
            portalTeamId: made.portalTeamId ?? null,
          },
          m,
        );
        await this.links.deleteIntent(iss, key, m);
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
            details: {
              portal_org_id: link.portalOrgId,
              portal_team_id: link.portalTeamId,
              issuer: link.issuer,
              ...(made.adopted && { adopted: true }),
            },
          },
          m,
        );
        return { link, created: true };
      });
    });
    this.remember(claimed.link);
    return claimed;
  }
}
