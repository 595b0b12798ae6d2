import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The refusal of an insert that is not unsealed: every seal column must be NULL. */
const SEALED_ON_INSERT = `NEW.seq IS NOT NULL OR NEW.prev_id IS NOT NULL OR NEW.prev_hash IS NOT NULL
  OR NEW.hash IS NOT NULL OR NEW.sealed_at IS NOT NULL`;

/**
 * Issue 19: every login inserts an audit event, and `audit_events_guard()` ran for each of them,
 * a PL/pgSQL call that also looked up the table's owner in the catalog before it checked that the
 * seal columns are NULL. The insert check is now the trigger's WHEN condition, which Postgres
 * evaluates itself: `audit_events_guard()` (1797000005000-AuditLeastPrivilege, unchanged) runs only
 * for an insert that would be refused, and raises the same error. UPDATE and DELETE keep the
 * trigger they had (same name, same function).
 */
export class AuditInsertGuardInC1797000009000 implements MigrationInterface {
  name = 'AuditInsertGuardInC1797000009000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_events_append_only" ON "audit_events"`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_append_only" BEFORE UPDATE OR DELETE ON "audit_events"
      FOR EACH ROW EXECUTE FUNCTION audit_events_guard()`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_insert_unsealed" BEFORE INSERT ON "audit_events"
      FOR EACH ROW WHEN (${SEALED_ON_INSERT}) EXECUTE FUNCTION audit_events_guard()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_events_insert_unsealed" ON "audit_events"`);
    await queryRunner.query(`DROP TRIGGER "audit_events_append_only" ON "audit_events"`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_append_only" BEFORE INSERT OR UPDATE OR DELETE ON "audit_events"
      FOR EACH ROW EXECUTE FUNCTION audit_events_guard()`);
  }
}
