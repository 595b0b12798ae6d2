import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per started OpenID Connect login (libs/cloudentity LoginStateStore): the random
 * `state` handle, the nonce, the PKCE verifier and optionally a hash binding the login to the
 * browser that started it. Consumed once with DELETE … RETURNING;
 * expired rows are purged in the background through the expires_at index.
 */
export class CreateLoginStates1795750504304 implements MigrationInterface {
  name = 'CreateLoginStates1795750504304';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "login_states" (
      "handle" text NOT NULL,
      "profile_id" text NOT NULL,
      "provider" text NOT NULL,
      "nonce" text NOT NULL,
      "code_verifier" text NOT NULL,
      "browser_binding" text,
      "created_at" timestamptz NOT NULL DEFAULT now(),
      "expires_at" timestamptz NOT NULL,
      CONSTRAINT "PK_login_states" PRIMARY KEY ("handle")
    )`);
    await queryRunner.query(`CREATE INDEX "IDX_login_states_expires_at" ON "login_states" ("expires_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_login_states_expires_at"`);
    await queryRunner.query(`DROP TABLE "login_states"`);
  }
}
