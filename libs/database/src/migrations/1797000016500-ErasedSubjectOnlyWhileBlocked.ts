import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An erased developer keeps `erased:<sha-256 of the subject>` only while blocked: that is how the
 * blocked person stays blocked after erasure. On an erased developer who is not blocked the hash
 * served nothing and linked the person to the erased row (anyone knowing a subject could check
 * that it once had an account), so erasure and unblocking now set the subject to NULL, and this
 * migration does it for the rows erased before it. The unique index over (issuer, subject) is
 * partial (`erased_at IS NULL`) and the blocked-subject index covers only blocked rows, so NULL
 * subjects touch neither; the CHECK keeps every developer not erased with a subject.
 */
export class ErasedSubjectOnlyWhileBlocked1797000016500 implements MigrationInterface {
  name = 'ErasedSubjectOnlyWhileBlocked1797000016500';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "developers" ALTER COLUMN "subject" DROP NOT NULL`);
    await queryRunner.query(
      `UPDATE "developers" SET "subject" = NULL WHERE "erased_at" IS NOT NULL AND "status" <> 'blocked'`,
    );
    await queryRunner.query(
      `ALTER TABLE "developers" ADD CONSTRAINT "CHK_developers_subject" CHECK ("subject" IS NOT NULL OR "erased_at" IS NOT NULL)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "developers" DROP CONSTRAINT "CHK_developers_subject"`);
    // The hash is gone: each such row gets a subject of its own that says nothing about the person.
    await queryRunner.query(`UPDATE "developers" SET "subject" = 'erased:' || id::text WHERE "subject" IS NULL`);
    await queryRunner.query(`ALTER TABLE "developers" ALTER COLUMN "subject" SET NOT NULL`);
  }
}
