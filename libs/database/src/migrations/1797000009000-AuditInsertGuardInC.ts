import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The refusal of an insert that is not unsealed: every seal column must be NULL. */
const SEALED_ON_INSERT = `NEW.seq IS NOT NULL OR NEW.prev_id IS NOT NULL OR NEW.prev_hash IS NOT NULL
  OR NEW.hash IS NOT NULL OR NEW.sealed_at IS NOT NULL`;

/**
 * Issue 19: every login inserts an audit event, and `audit_events_guard()` ran for each of them,
 * a PL/pgSQL call that also looked up the table's owner in the catalog before it checked that the
 * seal columns are NULL. The insert check is now the trigger's WHEN condition, which Postgres
 * evaluates itself: the function runs only for an insert that would be refused, and it still
 * raises the same error. UPDATE and DELETE keep the trigger they had (same name, same function).
 * The function computes the owner test only on UPDATE and DELETE (it is the same function
 * otherwise, see 1797000005000-AuditLeastPrivilege).
 */
export class AuditInsertGuardInC1797000009000 implements MigrationInterface {
  name = 'AuditInsertGuardInC1797000009000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql
      SET search_path = pg_catalog, public AS $$
      DECLARE
        v_owner boolean;
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF ${SEALED_ON_INSERT} THEN
            RAISE EXCEPTION 'audit_events is append-only: events are inserted unsealed (event %)', NEW.id
              USING ERRCODE = '42501';
          END IF;
          RETURN NEW;
        END IF;
        -- True when the statement runs as the owner of the table the trigger fired on: inside the
        -- owner's SECURITY DEFINER functions (or as the owner itself, who could drop the trigger).
        v_owner := (SELECT c.relowner = (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user)
                      FROM pg_class c WHERE c.oid = TG_RELID);
        IF TG_OP = 'UPDATE' THEN
          IF v_owner
             AND OLD.seq IS NULL AND OLD.prev_id IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
             AND OLD.sealed_at IS NULL
             AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
             AND NEW.sealed_at IS NOT NULL
             AND (NEW.id, NEW.occurred_at, NEW.type, NEW.outcome, NEW.reason, NEW.actor, NEW.target,
                  NEW.profile_id, NEW.developer_id, NEW.organisation_id, NEW.ip, NEW.user_agent,
                  NEW.request_id, NEW.details)
                 IS NOT DISTINCT FROM
                 (OLD.id, OLD.occurred_at, OLD.type, OLD.outcome, OLD.reason, OLD.actor, OLD.target,
                  OLD.profile_id, OLD.developer_id, OLD.organisation_id, OLD.ip, OLD.user_agent,
                  OLD.request_id, OLD.details) THEN
            RETURN NEW;
          END IF;
          RAISE EXCEPTION 'audit_events is append-only: UPDATE refused (event %)', OLD.id USING ERRCODE = '42501';
        END IF;
        IF v_owner AND OLD.seq IS NOT NULL THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_events is append-only: DELETE refused (event %)', OLD.id USING ERRCODE = '42501';
      END $$`);
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
