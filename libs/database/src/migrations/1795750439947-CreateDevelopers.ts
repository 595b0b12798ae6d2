import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Developers (libs/developers): one row per (issuer, subject), created or updated by each login;
 * and the link from a Cloudentity organisation to the portal organisation/team made for it.
 */
export class CreateDevelopers1795750439947 implements MigrationInterface {
  name = 'CreateDevelopers1795750439947';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
    // gen_random_uuid() behind a name of our own: TypeORM reads a column defaulting to
    // gen_random_uuid() as a generated uuid column, and an entity declared that way makes
    // TypeORM run CREATE EXTENSION "uuid-ossp" on every connect.
    await queryRunner.query(
      `CREATE FUNCTION broker_random_uuid() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS 'SELECT gen_random_uuid()'`,
    );
    await queryRunner.query(`
      CREATE TABLE "developers" (
        "id" uuid NOT NULL DEFAULT broker_random_uuid(),
        "issuer" character varying(500) NOT NULL,
        "subject" character varying(255) NOT NULL,
        "email" character varying(320),
        "email_verified" boolean NOT NULL DEFAULT false,
        "name" character varying(300),
        "organisation_id" character varying(200),
        "organisation_name" character varying(300),
        "portal_user_id" character varying(100),
        "sso_key" character varying(400),
        "status" character varying(16) NOT NULL DEFAULT 'active',
        "first_login_at" timestamp with time zone,
        "last_login_at" timestamp with time zone,
        "login_count" integer NOT NULL DEFAULT 0,
        "erased_at" timestamp with time zone,
        "created_at" timestamp with time zone NOT NULL DEFAULT now(),
        "updated_at" timestamp with time zone NOT NULL DEFAULT now(),
        CONSTRAINT "PK_developers" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_developers_issuer_subject" UNIQUE ("issuer", "subject"),
        CONSTRAINT "CHK_developers_status" CHECK (status IN ('active', 'blocked'))
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_developers_email" ON "developers" (lower(email))`);
    await queryRunner.query(
      `CREATE INDEX "IDX_developers_email_trgm" ON "developers" USING gin (lower(email) gin_trgm_ops)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_developers_organisation" ON "developers" ("organisation_id")`);
    // Keyset pages of the admin list: newest first.
    await queryRunner.query(`CREATE INDEX "IDX_developers_created" ON "developers" ("created_at", "id")`);

    await queryRunner.query(`
      CREATE TABLE "portal_org_links" (
        "cloudentity_org_id" character varying(200) NOT NULL,
        "portal_org_id" character varying(200) NOT NULL,
        "portal_team_id" character varying(200),
        "created_at" timestamp with time zone NOT NULL DEFAULT now(),
        CONSTRAINT "PK_portal_org_links" PRIMARY KEY ("cloudentity_org_id")
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS "portal_org_links"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "developers"`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS broker_random_uuid()`);
  }
}
