import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One live developer per portal SSO key (`<user id>@openid-connect.com`, which names no IdP): a
 * second identity with the same key (the same `sub` from another profile's IdP, or a
 * CustomUserIDField claim the user can edit) would be signed in as the first one's portal
 * developer. A unique index over the keys of developers not erased makes the login upsert fail
 * for it (DevelopersService: `portal_rejected`), race-free and at no cost to a returning
 * developer's login (its key is unchanged, so the update inserts no index entry).
 *
 * Rows that already share a key: a blocked developer keeps it (so blocking still refuses every
 * identity with that key), else the developer who first signed in with it (the portal developer
 * was made for them); the others lose it here and are refused at their next login, until an
 * admin erases the wrong one. Their count is raised as a NOTICE.
 */
export class DevelopersLiveSsoKey1797000017700 implements MigrationInterface {
  name = 'DevelopersLiveSsoKey1797000017700';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      DO $$
      DECLARE n bigint;
      BEGIN
        WITH ranked AS (
          SELECT id, row_number() OVER (PARTITION BY sso_key
                   ORDER BY (status = 'blocked') DESC, first_login_at NULLS LAST, created_at, id) AS rank
            FROM developers WHERE sso_key IS NOT NULL AND erased_at IS NULL)
        UPDATE developers d SET sso_key = NULL FROM ranked r WHERE r.id = d.id AND r.rank > 1;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
          RAISE NOTICE 'developers: % developer(s) shared an SSO key with one who signed in before; their key is cleared and their next login is refused (portal_rejected) until an admin erases the wrong one', n;
        END IF;
      END $$`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_developers_live_sso_key" ON "developers" ("sso_key") WHERE erased_at IS NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "UQ_developers_live_sso_key"`);
  }
}
