import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The SIEM stream re-sends exactly the batch that failed: `pending_last_seq` is the last seq of a
 * batch posted but not acknowledged (null when none), so a retry (by this sender after a restart,
 * or by another replica that takes the lease) posts the same events with the same Idempotency-Key
 * even when more were sealed meanwhile. It only bounds the next batch; the runtime role can
 * UPDATE it as it can the whole row, which at worst changes a batch's size, never skips an event.
 */
export class AuditStreamPendingBatch1797000016000 implements MigrationInterface {
  name = 'AuditStreamPendingBatch1797000016000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "audit_stream_cursor" ADD COLUMN "pending_last_seq" bigint`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "audit_stream_cursor" DROP COLUMN "pending_last_seq"`);
  }
}
