import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * (issuer, subject) is unique only among developers not erased. An erasure turns the subject into
 * `erased:<sha-256 of the subject>`; when the person signs in again they get a new row with the
 * plain subject, and erasing that row gives the same `erased:…` value for the same issuer. Under
 * the old UNIQUE constraint that erasure failed (23505) and rolled back: the person could never be
 * erased again. The hash stays the same on purpose: it is how a blocked developer stays blocked
 * after erasure (the login's `blockedMatch`), so erased rows may share it.
 *
 * The login upsert's ON CONFLICT names this partial index (`WHERE erased_at IS NULL`); the blocked
 * check, which also looks up erased subjects, gets a partial index over blocked rows like the
 * other blocked-developer lookups (PortalOrgLinksByIssuer).
 */
export class DevelopersSubjectUniqueUntilErased1797000014310 implements MigrationInterface {
  name = 'DevelopersSubjectUniqueUntilErased1797000014310';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "developers" DROP CONSTRAINT "UQ_developers_issuer_subject"`);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_developers_issuer_subject" ON "developers" ("issuer", "subject") WHERE "erased_at" IS NULL`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_developers_blocked_subject" ON "developers" ("issuer", "subject") WHERE status = 'blocked'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_developers_blocked_subject"`);
    await queryRunner.query(`DROP INDEX "UQ_developers_issuer_subject"`);
    // Erased rows of the same person share a subject: all but the oldest get one of their own
    // (losing only what the old schema could not hold: that the later rows were the same person).
    await queryRunner.query(`
      UPDATE "developers" AS d SET "subject" = 'erased:' || d.id::text
        FROM (SELECT id, row_number() OVER (PARTITION BY issuer, subject ORDER BY created_at, id) AS n
                FROM "developers" WHERE erased_at IS NOT NULL) AS r
       WHERE r.id = d.id AND r.n > 1`);
    await queryRunner.query(
      `ALTER TABLE "developers" ADD CONSTRAINT "UQ_developers_issuer_subject" UNIQUE ("issuer", "subject")`,
    );
  }
}
