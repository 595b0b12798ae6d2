import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An erasure must remove the tokens issued to the developer, but an `issued_tokens` row named its
 * owner only through `lookup`, an HMAC of `identity-cache.{profileId}-{subject}@{provider}.com`:
 * finding a developer's rows meant knowing every profile that ever issued one (a deleted profile's
 * rows could not be found at all). So each row now says whose it is: `developer_id` (removed with
 * the developer, and taken out by an erasure in its own transaction) and `profile_id` (which
 * profile's Dashboard API and credential revoke it). The sealed value, the token, is personal too:
 * at an erasure it moves, still sealed, into the developer's deprovisioning outbox row
 * (`tokens`), which the worker revokes and then clears.
 *
 * Rows written before this migration cannot be linked (the HMAC key is not in the database) and
 * are deleted: the only loss is that a token issued before the upgrade is not revoked at its
 * holder's next login (it still ends at its own expiry), whereas keeping them would leave tokens
 * an erasure cannot find.
 */
export class LinkIssuedTokensToDevelopers1797000010000 implements MigrationInterface {
  name = 'LinkIssuedTokensToDevelopers1797000010000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DELETE FROM "issued_tokens"`);
    await queryRunner.query(`ALTER TABLE "issued_tokens"
      ADD COLUMN "developer_id" uuid,
      ADD COLUMN "profile_id" text NOT NULL,
      ADD CONSTRAINT "FK_issued_tokens_developer" FOREIGN KEY ("developer_id") REFERENCES "developers" ("id") ON DELETE CASCADE`);
    await queryRunner.query(`CREATE INDEX "IDX_issued_tokens_developer_id" ON "issued_tokens" ("developer_id")`);
    // [{ "profile_id", "lookup", "sealed" }] (base64): the erased developer's tokens, until revoked.
    await queryRunner.query(`ALTER TABLE "deprovisioning_outbox" ADD COLUMN "tokens" jsonb`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "deprovisioning_outbox" DROP COLUMN "tokens"`);
    await queryRunner.query(`DROP INDEX "IDX_issued_tokens_developer_id"`);
    await queryRunner.query(`ALTER TABLE "issued_tokens" DROP CONSTRAINT "FK_issued_tokens_developer"`);
    await queryRunner.query(`ALTER TABLE "issued_tokens" DROP COLUMN "profile_id", DROP COLUMN "developer_id"`);
  }
}
