import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The runtime role inserts the signed checkpoints (`audit_checkpoints`, append-only), and could
 * insert one anywhere: a row whose range lies between two genuine checkpoints made verify report
 * that row and the genuine checkpoint after it as broken on every run from then on, dropped the
 * genuine one from the checkpoints compared with the events, and a hundred such rows filled the
 * verify's problem list, hiding a real break. Nobody could remove them (append-only).
 *
 * An insert is now accepted only at the end of the checkpoint chain, as the broker writes them:
 * the first checkpoint starts at seq 1 from the genesis hash, every later one at the newest one's
 * `last_seq + 1`, with `prev_checkpoint_hash` the SHA-256 of the newest one's JWS. Inserts are
 * serialised by a transaction advisory lock, so two racing inserts cannot both continue the same
 * checkpoint. What the database cannot check is the signature: a junk row appended at the end still
 * stops the checkpoints, loudly (`audit.checkpoint_untrusted`), as before.
 */
export class AuditCheckpointsOnlyAtTheEnd1797000017410 implements MigrationInterface {
  name = 'AuditCheckpointsOnlyAtTheEnd1797000017410';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION audit_checkpoints_guard() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
      DECLARE
        v_last_seq bigint;
        v_hash text;
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
        END IF;
        RETURN NEW;
      END $$`);
    await queryRunner.query(`REVOKE ALL ON FUNCTION audit_checkpoints_guard() FROM PUBLIC`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_checkpoints_only_at_the_end" BEFORE INSERT ON "audit_checkpoints"
      FOR EACH ROW EXECUTE FUNCTION audit_checkpoints_guard()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_checkpoints_only_at_the_end" ON "audit_checkpoints"`);
    await queryRunner.query(`DROP FUNCTION audit_checkpoints_guard()`);
  }
}
