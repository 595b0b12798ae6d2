import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The SIEM stream's cursor becomes authenticated: the runtime role may UPDATE the cursor row, so
 * a holder of its credentials could move `last_seq` past events the SIEM never received. The
 * sender now writes `mac`, an HMAC over (last_seq, last_event_id) with a key derived from
 * BROKER_AUDIT_STREAM_SECRET (not in the database), and treats a cursor whose MAC does not verify
 * as moved by someone else.
 *
 * `unsigned_seq`/`unsigned_event_id` keep the position this migration found (what the previous
 * version had delivered): the one unsigned cursor the sender accepts, once, and signs. The trigger
 * (the owner's; the runtime role cannot alter or skip it) keeps them as the migration wrote them
 * and clears them for good as soon as a MAC is written, so setting `mac` to NULL later is not an
 * upgrade again. `tampered_at`/`tampered_seq` record the last detection for /health/ready.
 */
export class SignAuditStreamCursor1797000012000 implements MigrationInterface {
  name = 'SignAuditStreamCursor1797000012000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "audit_stream_cursor"
      ADD COLUMN "mac" text,
      ADD COLUMN "unsigned_seq" bigint,
      ADD COLUMN "unsigned_event_id" bigint,
      ADD COLUMN "tampered_at" timestamptz,
      ADD COLUMN "tampered_seq" bigint`);
    await queryRunner.query(
      `UPDATE "audit_stream_cursor" SET "unsigned_seq" = "last_seq", "unsigned_event_id" = "last_event_id"`,
    );
    await queryRunner.query(`CREATE FUNCTION audit_stream_cursor_guard() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
      BEGIN
        IF NEW.mac IS NULL THEN
          NEW.unsigned_seq := OLD.unsigned_seq;
          NEW.unsigned_event_id := OLD.unsigned_event_id;
        ELSE
          NEW.unsigned_seq := NULL;
          NEW.unsigned_event_id := NULL;
        END IF;
        RETURN NEW;
      END $$`);
    await queryRunner.query(`CREATE TRIGGER audit_stream_cursor_guard BEFORE UPDATE ON "audit_stream_cursor"
      FOR EACH ROW EXECUTE FUNCTION audit_stream_cursor_guard()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER audit_stream_cursor_guard ON "audit_stream_cursor"`);
    await queryRunner.query(`DROP FUNCTION audit_stream_cursor_guard()`);
    await queryRunner.query(`ALTER TABLE "audit_stream_cursor"
      DROP COLUMN "mac", DROP COLUMN "unsigned_seq", DROP COLUMN "unsigned_event_id",
      DROP COLUMN "tampered_at", DROP COLUMN "tampered_seq"`);
  }
}
