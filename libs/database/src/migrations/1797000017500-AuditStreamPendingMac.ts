import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `pending_last_seq` bounds the retry of a failed SIEM batch so that it is the same batch under
 * the same Idempotency-Key. The runtime role can UPDATE it, and a changed bound re-sends events
 * the SIEM may already hold under another key (duplicates it cannot drop by key). So the sender
 * now also signs it: `pending_mac`, an HMAC over (last_seq, last_event_id, pending_last_seq or
 * none) with the stream key, written with every cursor update; one that does not verify is
 * `audit.stream_cursor_tampered` (reason `pending_batch_tampered`). The owner's trigger keeps
 * `pending_mac` once written (never back to NULL), so clearing both columns is not "unsigned".
 */
export class AuditStreamPendingMac1797000017500 implements MigrationInterface {
  name = 'AuditStreamPendingMac1797000017500';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "audit_stream_cursor" ADD COLUMN "pending_mac" text`);
    await queryRunner.query(`CREATE OR REPLACE FUNCTION audit_stream_cursor_guard() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
      BEGIN
        IF NEW.mac IS NULL THEN
          NEW.unsigned_seq := OLD.unsigned_seq;
          NEW.unsigned_event_id := OLD.unsigned_event_id;
        ELSE
          NEW.unsigned_seq := NULL;
          NEW.unsigned_event_id := NULL;
        END IF;
        IF NEW.pending_mac IS NULL THEN
          NEW.pending_mac := OLD.pending_mac;
        END IF;
        RETURN NEW;
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE OR REPLACE FUNCTION audit_stream_cursor_guard() RETURNS trigger
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
    await queryRunner.query(`ALTER TABLE "audit_stream_cursor" DROP COLUMN "pending_mac"`);
  }
}
