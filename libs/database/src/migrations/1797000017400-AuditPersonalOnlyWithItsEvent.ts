import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The IP address and user agent of an event live outside the chained record, in
 * `audit_event_personal` (1797000005000-AuditLeastPrivilege), so that erasure can delete them and
 * the chain still verifies. Two things the runtime role could do there went unseen:
 *
 * - insert a row for any event that had none (a system event, another transaction's event): an
 *   address or user agent of its choosing, shown by the API and the console as the event's own.
 *   A row is now accepted only for an unsealed event inserted by the same (sub)transaction as the
 *   row itself (equal `xmin`), which is what the broker's one statement (INSERT_SQL) does. The
 *   check is a constraint trigger after the insert, where both rows of that statement are visible.
 * - call `audit_erase_personal()` for any developer, deleting their addresses without a trace. It
 *   now refuses a developer who is not erased (`developers.erased_at`), and records what it
 *   deleted as an `audit.personal_erased` event of its own, in the chain, in the same transaction.
 */
export class AuditPersonalOnlyWithItsEvent1797000017400 implements MigrationInterface {
  name = 'AuditPersonalOnlyWithItsEvent1797000017400';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION audit_event_personal_guard() RETURNS trigger
      LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
      BEGIN
        IF NOT EXISTS (
          SELECT 1 FROM audit_events e, audit_event_personal p
           WHERE e.id = NEW.event_id AND p.event_id = NEW.event_id AND e.seq IS NULL AND e.xmin = p.xmin) THEN
          RAISE EXCEPTION 'audit_event_personal: a row is written only with its event, in the same statement (event %)',
            NEW.event_id USING ERRCODE = '42501';
        END IF;
        RETURN NULL;
      END $$`);
    await queryRunner.query(`REVOKE ALL ON FUNCTION audit_event_personal_guard() FROM PUBLIC`);
    await queryRunner.query(`
      CREATE CONSTRAINT TRIGGER "audit_event_personal_with_its_event" AFTER INSERT ON "audit_event_personal"
      FOR EACH ROW EXECUTE FUNCTION audit_event_personal_guard()`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_erase_personal(p_developer uuid) RETURNS bigint
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
      DECLARE
        v_count bigint;
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM developers d WHERE d.id = p_developer AND d.erased_at IS NOT NULL) THEN
          RAISE EXCEPTION 'audit_erase_personal: developer % is not erased', p_developer USING ERRCODE = '42501';
        END IF;
        WITH gone AS (
          DELETE FROM audit_event_personal p USING audit_events e
           WHERE e.id = p.event_id AND e.developer_id = p_developer
          RETURNING p.event_id)
        SELECT count(*) INTO v_count FROM gone;
        INSERT INTO audit_events (type, outcome, actor, target, developer_id, details)
        VALUES ('audit.personal_erased', 'success', 'system', 'developer:' || p_developer::text, p_developer,
                jsonb_build_object('rows', v_count));
        RETURN v_count;
      END $$`);
    await queryRunner.query(`REVOKE ALL ON FUNCTION audit_erase_personal(uuid) FROM PUBLIC`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_event_personal_with_its_event" ON "audit_event_personal"`);
    await queryRunner.query(`DROP FUNCTION audit_event_personal_guard()`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_erase_personal(p_developer uuid) RETURNS bigint
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
      DECLARE
        v_count bigint;
      BEGIN
        WITH gone AS (
          DELETE FROM audit_event_personal p USING audit_events e
           WHERE e.id = p.event_id AND e.developer_id = p_developer
          RETURNING p.event_id)
        SELECT count(*) INTO v_count FROM gone;
        RETURN v_count;
      END $$`);
  }
}
