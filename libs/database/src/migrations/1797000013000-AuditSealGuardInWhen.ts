import type { MigrationInterface, QueryRunner } from 'typeorm';

/** What `audit_events_guard()` lets an UPDATE do: seal an unsealed event, changing nothing else. */
const SEALING = `OLD.seq IS NULL AND OLD.prev_id IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
  AND OLD.sealed_at IS NULL
  AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL AND NEW.sealed_at IS NOT NULL
  AND (NEW.id, NEW.occurred_at, NEW.type, NEW.outcome, NEW.reason, NEW.actor, NEW.target, NEW.profile_id,
       NEW.developer_id, NEW.organisation_id, NEW.ip, NEW.user_agent, NEW.request_id, NEW.details)
      IS NOT DISTINCT FROM
      (OLD.id, OLD.occurred_at, OLD.type, OLD.outcome, OLD.reason, OLD.actor, OLD.target, OLD.profile_id,
       OLD.developer_id, OLD.organisation_id, OLD.ip, OLD.user_agent, OLD.request_id, OLD.details)`;

/**
 * Issue 19: `audit_seal()` updates every event it seals, and the BEFORE UPDATE trigger ran the
 * PL/pgSQL `audit_events_guard()` for each: a function call plus a catalog query for the table's
 * owner, about half of the seal's Postgres CPU (50 of 100 µs per event, measured). As for inserts
 * (1797000009000-AuditInsertGuardInC), Postgres now checks the allowed case itself in the trigger's
 * WHEN condition: the table's owner (named when this migration runs, as `audit_seal()` runs) sealing
 * an unsealed event without changing it. Every other UPDATE still runs `audit_events_guard()`
 * (unchanged), which refuses it as before, or allows it when the table has changed owner since (the
 * slow path, same rule). DELETE keeps its trigger (same function).
 */
export class AuditSealGuardInWhen1797000013000 implements MigrationInterface {
  name = 'AuditSealGuardInWhen1797000013000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_events_append_only" ON "audit_events"`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_append_only" BEFORE DELETE ON "audit_events"
      FOR EACH ROW EXECUTE FUNCTION audit_events_guard()`);
    // The owner's name as a literal: a trigger's WHEN condition cannot query the catalog.
    await queryRunner.query(`
      DO $$ BEGIN
        EXECUTE format(
          'CREATE TRIGGER "audit_events_update_sealing_only" BEFORE UPDATE ON "audit_events" FOR EACH ROW '
          'WHEN (NOT (current_user = %L AND ${SEALING.replace(/'/g, "''")})) EXECUTE FUNCTION audit_events_guard()',
          (SELECT pg_get_userbyid(c.relowner) FROM pg_class c WHERE c.oid = 'audit_events'::regclass));
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_events_update_sealing_only" ON "audit_events"`);
    await queryRunner.query(`DROP TRIGGER "audit_events_append_only" ON "audit_events"`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_append_only" BEFORE UPDATE OR DELETE ON "audit_events"
      FOR EACH ROW EXECUTE FUNCTION audit_events_guard()`);
  }
}
