import { AuditService, type AuditEventInput } from '@app/audit';
import { DomainError, LruCache } from '@app/common';
import { preparedQuery, preparedStatement } from '@app/database';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';

/** The portal organisation (and team) made for a Cloudentity organisation of one IdP. */
export interface OrganisationLink {
  issuer: string;
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
  issuer: string;
  cloudentity_org_id: string;
  portal_org_id: string;
  portal_team_id: string | null;
  created_at: Date;
}

const toLink = (r: LinkRow): OrganisationLink => ({
  issuer: r.issuer,
  cloudentityOrgId: r.cloudentity_org_id,
  portalOrgId: r.portal_org_id,
  portalTeamId: r.portal_team_id,
  createdAt: r.created_at,
});

const COLUMNS = 'issuer, cloudentity_org_id, portal_org_id, portal_team_id, created_at';
const SELECT = `SELECT ${COLUMNS} FROM portal_org_links WHERE issuer = $1 AND cloudentity_org_id = $2`;
const FIND_LINK = preparedStatement('portal_org_links.find', SELECT);

/**
 * Links are only ever inserted, so a found link is kept in memory (bounded) instead of being read
 * on every login. The TTL bounds how long a row removed by hand in SQL is still used.
 */
const LINK_CACHE_TTL_MS = 5 * 60 * 1000;
const LINK_CACHE_MAX = 10_000;

/** Rows of an UPDATE … RETURNING (TypeORM answers `[rows, rowCount]` for UPDATE). */
async function returningRows<T>(m: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
  const result = await m.query<unknown>(sql, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}

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
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async find(issuer: string, orgId: string): Promise<OrganisationLink | null> {
    const iss = issuerKey(issuer);
    const key = orgKey(orgId);
    const hit = this.known.get(cacheKey(iss, key));
    if (hit && Date.now() - hit.at < LINK_CACHE_TTL_MS) return hit.link;
    const rows = await preparedQuery<LinkRow>(this.dataSource, FIND_LINK, [iss, key]);
    if (!rows[0]) {
      this.known.delete(cacheKey(iss, key));
      return null;
    }
    return this.remember(toLink(rows[0]));
  }

  private remember(link: OrganisationLink): OrganisationLink {
    this.known.set(cacheKey(link.issuer, link.cloudentityOrgId), { link, at: Date.now() });
    return link;
  }

  private async findWith(m: EntityManager, issuer: string, orgId: string): Promise<OrganisationLink | null> {
    const rows = await m.query<LinkRow[]>(SELECT, [issuer, orgId]);
    return rows[0] ? toLink(rows[0]) : null;
  }

  /**
   * Returns the organisation's link, calling `create` only when there is none yet. Concurrent
   * callers for the same organisation queue on a transaction-scoped advisory lock keyed on the
   * organisation id, re-check, and only the first one creates; the link is inserted and
   * `portal.organisation_created` audited in the same transaction. If `create` throws, nothing
   * is stored and the next caller tries again. (The lock is held while `create` calls the
   * portal: only first logins of that one organisation wait.) A link from before links had an
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
    const claimed = await this.dataSource.transaction(async (m) => {
      await m.query(`SELECT pg_advisory_xact_lock(hashtext('broker.portal_org_links'), hashtext($1))`, [
        cacheKey(iss, key),
      ]);
      const again = await this.findWith(m, iss, key);
      if (again) return { link: again, created: false };
      const adopted = await returningRows<LinkRow>(
        m,
        `UPDATE portal_org_links SET issuer = $1 WHERE issuer = '' AND cloudentity_org_id = $2 RETURNING ${COLUMNS}`,
        [iss, key],
      );
      if (adopted[0]) return { link: toLink(adopted[0]), created: false };
      const made = await create();
      if (!made || typeof made.portalOrgId !== 'string' || made.portalOrgId === '') {
        throw new Error('OrganisationLinksService.claim: create() returned no portal organisation id');
      }
      const rows = await m.query<LinkRow[]>(
        `INSERT INTO portal_org_links (issuer, cloudentity_org_id, portal_org_id, portal_team_id)
         VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
        [iss, key, made.portalOrgId, made.portalTeamId ?? null],
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
          details: { portal_org_id: link.portalOrgId, portal_team_id: link.portalTeamId, issuer: link.issuer },
        },
        m,
      );
      return { link, created: true };
    });
    this.remember(claimed.link);
    return claimed;
  }
}
