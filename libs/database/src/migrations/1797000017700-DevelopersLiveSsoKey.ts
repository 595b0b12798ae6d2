import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An index over the SSO keys of developers not erased: the login upsert refuses a login whose SSO
 * key another developer (another issuer or subject) holds, and looks that up on every login.
 * Not unique: rows that already share a key (made before this check) must not stop the
 * migration; the login of either is refused until an admin erases one.
 */
export class DevelopersLiveSsoKey1797000017700 implements MigrationInterface {
  name = 'DevelopersLiveSsoKey1797000017700';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "IDX_developers_live_sso_key" ON "developers" ("sso_key") WHERE erased_at IS NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_developers_live_sso_key"`);
  }
}
