import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Intents to create a portal organisation, written (and committed) before the broker sends
 * `POST /portal-api/organisations` for a new Cloudentity organisation, deleted in the transaction
 * that inserts its link. A row that outlives its attempt means the outcome is unknown (a timeout,
 * a reset, a 5xx after the commit): the portal may hold an organisation of one of those `names`
 * that no link owns, and the next claim adopts it instead of creating a second one. `names`
 * collects every name sent (the name claim may change between attempts). The runtime role gets
 * SELECT, INSERT, UPDATE and DELETE on it like every plain table.
 */
export class CreatePortalOrgIntents1797000015120 implements MigrationInterface {
  name = 'CreatePortalOrgIntents1797000015120';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "portal_org_intents" (
      "issuer" character varying(500) NOT NULL,
      "cloudentity_org_id" character varying(200) NOT NULL,
      "names" text[] NOT NULL,
      "first_attempt_at" timestamp with time zone NOT NULL DEFAULT now(),
      "last_attempt_at" timestamp with time zone NOT NULL DEFAULT now(),
      CONSTRAINT "PK_portal_org_intents" PRIMARY KEY ("issuer", "cloudentity_org_id")
    )`);
    // The adoption check ("does a link own this portal organisation?") looks links up by portal id.
    await queryRunner.query(
      `CREATE INDEX "IDX_portal_org_links_portal_org_id" ON "portal_org_links" ("portal_org_id")`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_portal_org_links_portal_org_id"`);
    await queryRunner.query(`DROP TABLE "portal_org_intents"`);
  }
}
