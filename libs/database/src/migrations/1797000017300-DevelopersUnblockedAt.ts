import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `developers.unblocked_at`: when the developer was last unblocked (admin API, CLI or SCIM). The
 * inactivity policy counts a developer's inactivity from the latest of their last login (else
 * their creation) and this time, so an unblock of someone long inactive is not undone by the
 * policy's next round. Filled for active developers unblocked before this migration from the
 * audit log's latest `developer.unblocked` event of each.
 */
export class DevelopersUnblockedAt1797000017300 implements MigrationInterface {
  name = 'DevelopersUnblockedAt1797000017300';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "developers" ADD "unblocked_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(
      `UPDATE "developers" AS d SET "unblocked_at" = u.at
         FROM (SELECT "developer_id", max("occurred_at") AS at FROM "audit_events"
                WHERE "type" = 'developer.unblocked' AND "developer_id" IS NOT NULL GROUP BY "developer_id") AS u
        WHERE d."id" = u."developer_id" AND d."status" = 'active'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "developers" DROP COLUMN "unblocked_at"`);
  }
}
