import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `developers.blocked_by`: where a developer's block comes from (`admin`, `cli`, `inactivity`,
 * `scim:<token label>`, `scim`; see blockOrigin in @app/developers), so that a SCIM client's
 * reactivation lifts only a block SCIM made, never an admin's. Null while active. Developers
 * blocked before this migration get the origin of their latest `developer.blocked` audit event
 * (mapped from its actor as blockOrigin does); one with no such event stays null, a block of
 * unknown origin, which SCIM does not lift.
 */
export class DevelopersBlockedBy1797000017200 implements MigrationInterface {
  name = 'DevelopersBlockedBy1797000017200';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "developers" ADD "blocked_by" character varying(100)`);
    await queryRunner.query(
      `UPDATE "developers" AS d
          SET "blocked_by" = CASE WHEN b."actor" LIKE 'admin:%' THEN 'admin'
                                  WHEN b."actor" LIKE 'system:%' THEN substr(b."actor", 8, 100)
                                  ELSE substr(b."actor", 1, 100) END
         FROM (SELECT DISTINCT ON ("developer_id") "developer_id", "actor" FROM "audit_events"
                WHERE "type" = 'developer.blocked' AND "developer_id" IS NOT NULL
                ORDER BY "developer_id", "id" DESC) AS b
        WHERE d."id" = b."developer_id" AND d."status" = 'blocked'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "developers" DROP COLUMN "blocked_by"`);
  }
}
