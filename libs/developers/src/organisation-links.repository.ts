import { preparedQuery, preparedStatement, returningRows } from '@app/database';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { OrganisationLink } from './entities/portal-org-link.entity.js';

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

/** All SQL of the `portal_org_links` table. The claim's steps take its transaction. */
@Injectable()
export class OrganisationLinksRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(fn);
  }

  /** The link of (issuer, organisation); with a manager, read inside its transaction. */
  async find(issuer: string, orgId: string, manager?: EntityManager): Promise<OrganisationLink | null> {
    const rows = manager
      ? await manager.query<LinkRow[]>(SELECT, [issuer, orgId])
      : await preparedQuery<LinkRow>(this.dataSource, FIND_LINK, [issuer, orgId]);
    return rows[0] ? toLink(rows[0]) : null;
  }

  /**
   * Waits for (and holds until the transaction ends) the advisory lock of one organisation, so
   * concurrent first logins of it (on any broker instance) queue instead of racing.
   */
  async lockOrganisation(lockKey: string, manager: EntityManager): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtext('broker.portal_org_links'), hashtext($1))`, [lockKey]);
  }

  /**
   * Gives a link from before links had an issuer (issuer '', see the PortalOrgLinksByIssuer
   * migration) to this issuer; null when there is none.
   */
  async adoptUnscoped(issuer: string, orgId: string, manager: EntityManager): Promise<OrganisationLink | null> {
    const rows = await returningRows<LinkRow>(
      manager,
      `UPDATE portal_org_links SET issuer = $1 WHERE issuer = '' AND cloudentity_org_id = $2 RETURNING ${COLUMNS}`,
      [issuer, orgId],
    );
    return rows[0] ? toLink(rows[0]) : null;
  }

  async insert(
    link: Pick<OrganisationLink, 'issuer' | 'cloudentityOrgId' | 'portalOrgId' | 'portalTeamId'>,
    manager: EntityManager,
  ): Promise<OrganisationLink> {
    const rows = await manager.query<LinkRow[]>(
      `INSERT INTO portal_org_links (issuer, cloudentity_org_id, portal_org_id, portal_team_id)
       VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
      [link.issuer, link.cloudentityOrgId, link.portalOrgId, link.portalTeamId],
    );
    return toLink(rows[0]);
  }
}
