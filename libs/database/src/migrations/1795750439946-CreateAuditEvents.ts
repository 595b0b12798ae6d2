import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The append-only, hash-chained audit log (libs/audit).
 *
 * - `audit_events`: one row per event. Inserted unsealed (chain columns NULL); the background
 *   sealer sets seq/prev_id/prev_hash/hash/sealed_at exactly once. A trigger refuses every other
 *   UPDATE, every DELETE except the retention function's, and TRUNCATE.
 * - `audit_chain_head`: the last sealed link (detects a truncated tail).
 * - `audit_chain_anchors`: where verification starts after retention removed the oldest range.
 */
export class CreateAuditEvents1795750439946 implements MigrationInterface {
  name = 'CreateAuditEvents1795750439946';

  async up(queryRunner: QueryRunner): Promise<void> {
    // pg_trgm is a trusted extension (PG 13+): the database owner may create it. Used for `q`.
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
    await queryRunner.query(`
      CREATE TABLE "audit_events" (
        "id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
        "occurred_at" timestamp with time zone NOT NULL DEFAULT clock_timestamp(),
        "type" character varying(64) NOT NULL,
        "outcome" character varying(16) NOT NULL,
        "reason" character varying(200),
        "actor" character varying(300),
        "target" character varying(300),
        "profile_id" character varying(200),
        "developer_id" uuid,
        "organisation_id" character varying(200),
        "ip" inet,
        "user_agent" character varying(512),
        "request_id" character varying(128),
        "details" jsonb,
        "seq" bigint,
        "prev_id" bigint,
        "prev_hash" character(64),
        "hash" character(64),
        "sealed_at" timestamp with time zone,
        CONSTRAINT "PK_audit_events" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_audit_events_outcome" CHECK (outcome IN ('success', 'failure')),
        CONSTRAINT "CHK_audit_events_sealed" CHECK (
          (seq IS NULL AND prev_hash IS NULL AND hash IS NULL AND sealed_at IS NULL AND prev_id IS NULL)
          OR (seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL AND sealed_at IS NOT NULL)
        )
      )`);
    // The query API orders by id (keyset); these serve its filters.
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_audit_events_seq" ON "audit_events" ("seq")`);
    await queryRunner.query(`CREATE INDEX "IDX_audit_events_developer" ON "audit_events" ("developer_id", "id")`);
    await queryRunner.query(`CREATE INDEX "IDX_audit_events_profile" ON "audit_events" ("profile_id", "id")`);
    await queryRunner.query(
      `CREATE INDEX "IDX_audit_events_org_time" ON "audit_events" ("organisation_id", "occurred_at")`,
    );
    // (type, id): a type filter walks the index in id order within the id bounds of a time window.
    await queryRunner.query(`CREATE INDEX "IDX_audit_events_type_id" ON "audit_events" ("type", "id")`);
    await queryRunner.query(
      `CREATE INDEX "IDX_audit_events_outcome_time" ON "audit_events" ("outcome", "occurred_at")`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_audit_events_time" ON "audit_events" ("occurred_at")`);
    await queryRunner.query(`CREATE INDEX "IDX_audit_events_ip" ON "audit_events" ("ip")`);
    await queryRunner.query(
      `CREATE INDEX "IDX_audit_events_text" ON "audit_events" USING gin ((coalesce(reason, '') || ' ' || coalesce(target, '')) gin_trgm_ops)`,
    );
    // The sealer's work list stays tiny: only unsealed rows are in it.
    await queryRunner.query(`CREATE INDEX "IDX_audit_events_unsealed" ON "audit_events" ("id") WHERE hash IS NULL`);

    await queryRunner.query(`
      CREATE TABLE "audit_chain_head" (
        "id" smallint NOT NULL DEFAULT 1,
        "last_seq" bigint NOT NULL DEFAULT 0,
        "last_id" bigint,
        "last_hash" character(64) NOT NULL,
        "updated_at" timestamp with time zone NOT NULL DEFAULT now(),
        CONSTRAINT "PK_audit_chain_head" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_audit_chain_head_single" CHECK (id = 1)
      )`);
    await queryRunner.query(
      `INSERT INTO "audit_chain_head" ("id", "last_seq", "last_hash") VALUES (1, 0, repeat('0', 64))`,
    );

    await queryRunner.query(`
      CREATE TABLE "audit_chain_anchors" (
        "id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
        "created_at" timestamp with time zone NOT NULL DEFAULT now(),
        "first_seq" bigint NOT NULL,
        "prev_hash" character(64) NOT NULL,
        "removed_count" bigint NOT NULL,
        "last_removed_id" bigint NOT NULL,
        "cutoff" timestamp with time zone NOT NULL,
        CONSTRAINT "PK_audit_chain_anchors" PRIMARY KEY ("id")
      )`);

    await queryRunner.query(`
      CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.seq IS NOT NULL OR NEW.prev_id IS NOT NULL OR NEW.prev_hash IS NOT NULL
             OR NEW.hash IS NOT NULL OR NEW.sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'audit_events is append-only: events are inserted unsealed (event %)', NEW.id
              USING ERRCODE = '42501';
          END IF;
          RETURN NEW;
        ELSIF TG_OP = 'UPDATE' THEN
          -- The one permitted update: the sealer sets the chain columns once, from NULL.
          IF OLD.seq IS NULL AND OLD.prev_id IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
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
        ELSE
          -- Only audit_apply_retention() sets this (transaction-local) and only sealed rows go.
          IF current_setting('broker.audit_retention', true) = 'on' AND OLD.seq IS NOT NULL THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit_events is append-only: DELETE refused (event %)', OLD.id USING ERRCODE = '42501';
        END IF;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_append_only" BEFORE INSERT OR UPDATE OR DELETE ON "audit_events"
      FOR EACH ROW EXECUTE FUNCTION audit_events_guard()`);
    await queryRunner.query(`
      CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = '42501';
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
      FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_chain_anchors_append_only" BEFORE UPDATE OR DELETE ON "audit_chain_anchors"
      FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_chain_anchors_no_truncate" BEFORE TRUNCATE ON "audit_chain_anchors"
      FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()`);
    await queryRunner.query(`
      CREATE FUNCTION audit_chain_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.last_seq > OLD.last_seq THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_chain_head only moves forward: % refused', TG_OP USING ERRCODE = '42501';
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_chain_head_forward_only" BEFORE UPDATE OR DELETE ON "audit_chain_head"
      FOR EACH ROW EXECUTE FUNCTION audit_chain_head_guard()`);

    // Removes the oldest whole range of sealed events (a prefix of the chain, in seal order) whose
    // events are all older than p_cutoff, at most p_limit events, and leaves an anchor so that
    // verification starts at the first retained event. SECURITY DEFINER so that a deployment can
    // deny the application role DELETE on audit_events and grant EXECUTE on this function only.
    await queryRunner.query(`
      CREATE FUNCTION audit_apply_retention(p_cutoff timestamptz, p_limit integer)
      RETURNS TABLE (r_removed bigint, r_first_removed_id bigint, r_last_removed_id bigint, r_last_removed_seq bigint)
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
      DECLARE
        v_first bigint;
        v_last bigint;
        v_hash character(64);
        v_last_id bigint;
        v_count bigint;
        v_min_id bigint;
      BEGIN
        SELECT e.seq INTO v_first FROM audit_events e WHERE e.seq IS NOT NULL ORDER BY e.seq LIMIT 1;
        IF v_first IS NULL THEN
          RETURN;
        END IF;
        SELECT max(b.seq) INTO v_last FROM (
          SELECT a.seq, bool_and(a.occurred_at < p_cutoff) OVER (ORDER BY a.seq) AS old
          FROM (SELECT e.seq, e.occurred_at FROM audit_events e
                WHERE e.seq >= v_first ORDER BY e.seq LIMIT p_limit) a
        ) b WHERE b.old;
        IF v_last IS NULL THEN
          RETURN;
        END IF;
        SELECT e.hash, e.id INTO v_hash, v_last_id FROM audit_events e WHERE e.seq = v_last;
        PERFORM set_config('broker.audit_retention', 'on', true);
        WITH gone AS (DELETE FROM audit_events e WHERE e.seq BETWEEN v_first AND v_last RETURNING e.id)
        SELECT count(*), min(gone.id) INTO v_count, v_min_id FROM gone;
        PERFORM set_config('broker.audit_retention', 'off', true);
        INSERT INTO audit_chain_anchors (first_seq, prev_hash, removed_count, last_removed_id, cutoff)
        VALUES (v_last + 1, v_hash, v_count, v_last_id, p_cutoff);
        RETURN QUERY SELECT v_count, v_min_id, v_last_id, v_last;
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_apply_retention(timestamptz, integer)`);
    await queryRunner.query(`DROP TABLE IF EXISTS "audit_chain_anchors"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "audit_chain_head"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "audit_events"`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_chain_head_guard()`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_refuse_change()`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_events_guard()`);
    // pg_trgm stays: other tables (developers) may use it.
  }
}
