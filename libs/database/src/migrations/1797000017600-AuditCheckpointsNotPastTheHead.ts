import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Since AuditCheckpointsOnlyAtTheEnd (1797000017410) a checkpoint is accepted only after the newest
 * one, so whoever holds the runtime role can no longer slip one in between two genuine ones; a junk
 * checkpoint appended at the end is still accepted (the database cannot check a signature), and the
 * broker now passes over such junk with its next signed checkpoint (AuditCheckpointsService). That
 * next checkpoint continues the junk row in the table, so a junk row claiming a seq past the chain's
 * head (`last_seq` in the future) would have pushed every later checkpoint past events that do not
 * exist yet. The database knows the head: a checkpoint may not end after it. Nothing else changes:
 * still only at the end, chained by the JWS hash of the newest one, inserts serialised.
 */
export class AuditCheckpointsNotPastTheHead1797000017600 implements MigrationInterface {
  name = 'AuditCheckpointsNotPastTheHead1797000017600';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(guard(true));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(guard(false));
  }
}

function guard(headBound: boolean): string {
  const head = headBound
    ? `
        SELECT h.last_seq INTO v_head FROM audit_chain_head h WHERE h.id = 1;
        IF NEW.last_seq > COALESCE(v_head, 0) THEN
          RAISE EXCEPTION 'audit_checkpoints: a checkpoint ends at or before the chain head (seq %), not at seq %',
            COALESCE(v_head, 0), NEW.last_seq USING ERRCODE = '42501';
        END IF;`
    : '';
  return `
      CREATE OR REPLACE FUNCTION audit_checkpoints_guard() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
      DECLARE
        v_last_seq bigint;
        v_hash text;
        v_head bigint;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtext('broker.audit_checkpoints.append'));
        SELECT c.last_seq, encode(sha256(convert_to(c.jws, 'UTF8')), 'hex') INTO v_last_seq, v_hash
          FROM audit_checkpoints c ORDER BY c.last_seq DESC LIMIT 1;
        IF v_last_seq IS NULL THEN
          v_last_seq := 0;
          v_hash := repeat('0', 64);
        END IF;
        IF NEW.first_seq <> v_last_seq + 1 OR NEW.prev_checkpoint_hash <> v_hash THEN
          RAISE EXCEPTION 'audit_checkpoints: a checkpoint is appended after the newest one (first_seq %, prev_checkpoint_hash of its JWS), not at first_seq %',
            v_last_seq + 1, NEW.first_seq USING ERRCODE = '42501';
        END IF;${head}
        RETURN NEW;
      END $$`;
}
