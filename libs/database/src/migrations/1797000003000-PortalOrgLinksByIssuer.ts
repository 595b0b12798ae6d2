import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Organisation links keyed by (issuer, Cloudentity organisation id) instead of the id alone: two
 * IdPs may each have an organisation "acme", and they are two companies (issue 13, finding 7).
 * An existing link takes the issuer of the earliest developer seen in that organisation; a link
 * no developer explains keeps the issuer '' and is adopted by the first issuer that claims the
 * organisation id (OrganisationLinksService.claim).
 *
 * Also partial indexes over blocked developers, so the login upsert can refuse a blocked
 * developer's second identity (same email, SSO key or portal user) cheaply (finding 4).
 */
export class PortalOrgLinksByIssuer1797000003000 implements MigrationInterface {
  name = 'PortalOrgLinksByIssuer1797000003000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "portal_org_links" ADD "issuer" character varying(500) NOT NULL DEFAULT ''`);
    await queryRunner.query(`
      UPDATE "portal_org_links" AS l SET "issuer" = d.issuer
        FROM (SELECT DISTINCT ON (organisation_id) organisation_id, issuer
                FROM "developers" WHERE organisation_id IS NOT NULL
               ORDER BY organisation_id, first_login_at ASC NULLS LAST, created_at ASC) AS d
       WHERE d.organisation_id = l.cloudentity_org_id`);
    await queryRunner.query(`ALTER TABLE "portal_org_links" ALTER COLUMN "issuer" DROP DEFAULT`);
    await queryRunner.query(`ALTER TABLE "portal_org_links" DROP CONSTRAINT "PK_portal_org_links"`);
    await queryRunner.query(
      `ALTER TABLE "portal_org_links" ADD CONSTRAINT "PK_portal_org_links" PRIMARY KEY ("issuer", "cloudentity_org_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_developers_blocked_email" ON "developers" (lower(email)) WHERE status = 'blocked'`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_developers_blocked_sso_key" ON "developers" ("sso_key") WHERE status = 'blocked'`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_developers_blocked_portal_user" ON "developers" ("portal_user_id") WHERE status = 'blocked'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_developers_blocked_portal_user"`);
    await queryRunner.query(`DROP INDEX "IDX_developers_blocked_sso_key"`);
    await queryRunner.query(`DROP INDEX "IDX_developers_blocked_email"`);
    // Back to one link per organisation id: the oldest wins.
    await queryRunner.query(`
      DELETE FROM "portal_org_links" AS l USING "portal_org_links" AS o
       WHERE l.cloudentity_org_id = o.cloudentity_org_id
         AND (l.created_at, l.issuer) > (o.created_at, o.issuer)`);
    await queryRunner.query(`ALTER TABLE "portal_org_links" DROP CONSTRAINT "PK_portal_org_links"`);
    await queryRunner.query(
      `ALTER TABLE "portal_org_links" ADD CONSTRAINT "PK_portal_org_links" PRIMARY KEY ("cloudentity_org_id")`,
    );
    await queryRunner.query(`ALTER TABLE "portal_org_links" DROP COLUMN "issuer"`);
  }
}
