import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The SIEM stream's durable cursor (issue 17): one row, the last event delivered (its chain
 * position `last_seq` and its id), and the sender's last outcome for /health/ready. The row is
 * also the lease: a sender holds it `FOR UPDATE` while it posts a batch, so one replica sends at a
 * time and a killed sender's lock goes with its connection. The runtime role needs SELECT and
 * UPDATE on it (never INSERT or DELETE: the row is made here).
 */
export class CreateAuditStreamCursor1797000007000 implements MigrationInterface {
  name = 'CreateAuditStreamCursor1797000007000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "audit_stream_cursor" (
      "id" smallint NOT NULL DEFAULT 1,
      "last_seq" bigint NOT NULL DEFAULT 0,
      "last_event_id" bigint,
      "delivered_at" timestamptz,
      "attempted_at" timestamptz,
      "consecutive_failures" integer NOT NULL DEFAULT 0,
      "last_error" text,
      CONSTRAINT "PK_audit_stream_cursor" PRIMARY KEY ("id"),
      CONSTRAINT "CHK_audit_stream_cursor_one_row" CHECK ("id" = 1),
      CONSTRAINT "CHK_audit_stream_cursor_seq" CHECK ("last_seq" >= 0)
    )`);
    await queryRunner.query(`INSERT INTO "audit_stream_cursor" ("id") VALUES (1)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "audit_stream_cursor"`);
  }
}
