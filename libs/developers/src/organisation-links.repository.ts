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

/**
 * All SQL of the `portal_org_links` and `portal_org_intents` tables. The claim's steps take the
 * manager of its locked connection (or of the transaction on it).
 */
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
   * Runs `fn` on one connection holding the advisory lock of one organisation, so concurrent
   * first logins of it (on any broker instance) queue instead of racing. A session lock, not a
   * transaction's: `fn` commits an intent before it calls the portal, and everything it does
   * stays on this one connection (a second one from the pool, while waiters hold the rest, could
   * wait forever). A broker that dies mid-way drops the connection, and the lock with it.
   */
  async withOrganisationLock<T>(lockKey: string, fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    let broken: Error | undefined;
    try {
      await runner.query(`SELECT pg_advisory_lock(hashtext('broker.portal_org_links'), hashtext($1))`, [lockKey]);
      try {
        return await fn(runner.manager);
      } finally {
        await runner
          .query(`SELECT pg_advisory_unlock(hashtext('broker.portal_org_links'), hashtext($1))`, [lockKey])
          .catch((error: unknown) => {
            broken = error as Error;
          });
      }
    } finally {
      // A connection whose unlock failed may still hold the lock: the pool must close it, not reuse it.
      const pooled = runner as unknown as { releasePostgresConnection?: (err?: Error) => Promise<void> };
      if (broken && pooled.releasePostgresConnection) await pooled.releasePostgresConnection(broken);
      else await runner.release();
    }
  }

  /** Names sent to the portal for (issuer, organisation) by attempts not settled by a link. */
  async pendingNames(issuer: string, orgId: string, manager: EntityManager): Promise<string[]> {
    const rows = await manager.query<{ names: string[] }[]>(
      `SELECT names FROM portal_org_intents WHERE issuer = $1 AND cloudentity_org_id = $2`,
      [issuer, orgId],
    );
    return rows[0]?.names ?? [];
  }

  /** Records (committed at once: no transaction is open) that `name` is about to be sent. */
  async recordIntent(issuer: string, orgId: string, name: string, manager: EntityManager): Promise<void> {
    await manager.query(
      `INSERT INTO portal_org_intents (issuer, cloudentity_org_id, names) VALUES ($1, $2, ARRAY[$3::text])
       ON CONFLICT (issuer, cloudentity_org_id) DO UPDATE
         SET names = CASE WHEN $3::text = ANY (portal_org_intents.names) THEN portal_org_intents.names
                          ELSE portal_org_intents.names || $3::text END,
             last_attempt_at = now()`,
      [issuer, orgId, name],
    );
  }

  async deleteIntent(issuer: string, orgId: string, manager: EntityManager): Promise<void> {
    await manager.query(`DELETE FROM portal_org_intents WHERE issuer = $1 AND cloudentity_org_id = $2`, [
      issuer,
      orgId,
    ]);
  }

  /** Which of these portal organisations a link owns. */
  async linkedPortalOrganisations(portalOrgIds: readonly string[], manager: EntityManager): Promise<Set<string>> {
    if (portalOrgIds.length === 0) return new Set();
    const rows = await manager.query<{ portal_org_id: string }[]>(
      `SELECT DISTINCT portal_org_id FROM portal_org_links WHERE portal_org_id = ANY ($1::text[])`,
      [[...portalOrgIds]],
    );
    return new Set(rows.map((r) => r.portal_org_id));
  }

  /**
   * In the link's transaction: holds the lock of one portal organisation, so two Cloudentity
   * organisations (under two organisation locks) cannot both adopt it.
   */
  async lockPortalOrganisation(portalOrgId: string, manager: EntityManager): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtext('broker.portal_org_adopt'), hashtext($1))`, [
      portalOrgId,
    ]);
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
