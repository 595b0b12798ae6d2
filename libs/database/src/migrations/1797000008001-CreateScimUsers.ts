import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Users provisioned over SCIM 2.0 (RFC 7643). A row exists from the IdP's POST on, before any
 * login; `developer_id` links it to the developer it provisions: at creation when a developer
 * already matches, else at their first login (by subject = externalId, else by verified email).
 * `active` false blocks that developer. `user_name` is unique case-insensitively (RFC 7643 §4.1.1).
 */
export class CreateScimUsers1797000008001 implements MigrationInterface {
  name = 'CreateScimUsers1797000008001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "scim_users" (
      "id" uuid NOT NULL DEFAULT broker_random_uuid(),
      "user_name" varchar(320) NOT NULL,
      "external_id" varchar(255),
      "email" varchar(320),
      "given_name" varchar(200),
      "family_name" varchar(200),
      "display_name" varchar(300),
      "active" boolean NOT NULL DEFAULT true,
      "developer_id" uuid,
      "version" integer NOT NULL DEFAULT 1,
      "created_at" timestamptz NOT NULL DEFAULT now(),
      "updated_at" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "PK_scim_users" PRIMARY KEY ("id"),
      CONSTRAINT "FK_scim_users_developer" FOREIGN KEY ("developer_id") REFERENCES "developers" ("id") ON DELETE SET NULL
    )`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_scim_users_user_name" ON "scim_users" (lower("user_name"))`);
    await queryRunner.query(`CREATE INDEX "IDX_scim_users_external_id" ON "scim_users" ("external_id")`);
    await queryRunner.query(`CREATE INDEX "IDX_scim_users_email" ON "scim_users" (lower("email"))`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_scim_users_developer" ON "scim_users" ("developer_id") WHERE "developer_id" IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "scim_users"`);
  }
}
