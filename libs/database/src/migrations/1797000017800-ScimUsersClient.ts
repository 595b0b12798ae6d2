import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `scim_users.client`: the label of the SCIM token (BROKER_SCIM_TOKENS) that created the user. A
 * client scoped to an issuer (BROKER_SCIM_ISSUERS) links its users only to developers of that
 * issuer and sees only its own users. Users created before this migration take the label of their
 * `scim.user_created` audit event (actor `scim:<label>`); one whose event is gone keeps null,
 * which is unscoped, as every user was before.
 */
export class ScimUsersClient1797000017800 implements MigrationInterface {
  name = 'ScimUsersClient1797000017800';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scim_users" ADD "client" text`);
    await queryRunner.query(
      `UPDATE "scim_users" AS u SET "client" = substr(e."actor", 6)
         FROM "audit_events" AS e
        WHERE e."type" = 'scim.user_created' AND e."actor" LIKE 'scim:%'
          AND e."target" = 'scim-user:' || u."id"::text`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scim_users" DROP COLUMN "client"`);
  }
}
