import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 14: the broker's runtime role can only extend the audit chain, never rewrite it.
 *
 * - No setting-controlled bypass: the guard lets an UPDATE (sealing) or a DELETE (retention)
 *   through only when it runs as the tables' owner, i.e. inside the owner's SECURITY DEFINER
 *   functions below. The runtime role holds no UPDATE/DELETE/TRUNCATE/TRIGGER privilege anyway
 *   (see database-roles.ts for the grants); the guard is the second wall.
 * - `audit_seal()`: the one way to seal. Appends exactly the next links after the head: refuses a
 *   sealed row, a `seq` other than head + 1, a `prev_hash` other than the head's hash.
 * - `audit_apply_retention(p_cutoff, p_limit)`: the cutoff may only be older than the retention
 *   period in `audit_settings` (which only the owner writes, from BROKER_AUDIT_RETENTION_DAYS when
 *   migrations run); writes the `audit.retention_applied` event and the anchor in the same
 *   transaction, the event's details naming the anchor so that verify can explain it.
 * - `audit_checkpoints`: signed checkpoints (JWS), append-only.
 * - `audit_event_personal`: a developer's IP and user agent, outside the chained record; only
 *   `audit_erase_personal()` deletes them (erasure), the chain still verifies.
 * - Every function: REVOKE … FROM PUBLIC; EXECUTE is granted to the runtime role by name.
 */
export class AuditLeastPrivilege1797000005000 implements MigrationInterface {
  name = 'AuditLeastPrivilege1797000005000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "audit_settings" (
        "id" smallint NOT NULL DEFAULT 1,
        "retention_days" integer NOT NULL DEFAULT 0,
        "updated_at" timestamp with time zone NOT NULL DEFAULT now(),
        CONSTRAINT "PK_audit_settings" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_audit_settings_single" CHECK (id = 1),
        CONSTRAINT "CHK_audit_settings_days" CHECK (retention_days >= 0)
      )`);
    await queryRunner.query(`INSERT INTO "audit_settings" ("id", "retention_days") VALUES (1, 0)`);

    await queryRunner.query(`
      CREATE TABLE "audit_checkpoints" (
        "id" bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
        "first_seq" bigint NOT NULL,
        "last_seq" bigint NOT NULL,
        "last_hash" character(64) NOT NULL,
        "prev_checkpoint_hash" character(64) NOT NULL,
        "event_count" bigint NOT NULL,
        "kid" character varying(200) NOT NULL,
        "jws" text NOT NULL,
        "created_at" timestamp with time zone NOT NULL DEFAULT now(),
        CONSTRAINT "PK_audit_checkpoints" PRIMARY KEY ("id"),
        CONSTRAINT "CHK_audit_checkpoints_range" CHECK (last_seq >= first_seq - 1)
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX "IDX_audit_checkpoints_last_seq" ON "audit_checkpoints" ("last_seq")`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_checkpoints_append_only" BEFORE UPDATE OR DELETE ON "audit_checkpoints"
      FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_checkpoints_no_truncate" BEFORE TRUNCATE ON "audit_checkpoints"
      FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()`);

    // Public keys that signed checkpoints (current and retired), for GET /api/audit/keys.
    await queryRunner.query(`
      CREATE TABLE "audit_signing_keys" (
        "kid" character varying(200) NOT NULL,
        "jwk" jsonb NOT NULL,
        "created_at" timestamp with time zone NOT NULL DEFAULT now(),
        CONSTRAINT "PK_audit_signing_keys" PRIMARY KEY ("kid")
      )`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_signing_keys_append_only" BEFORE UPDATE OR DELETE ON "audit_signing_keys"
      FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()`);

    // True when the statement runs as the owner of the table the trigger fired on: inside the
    // owner's SECURITY DEFINER functions (or as the owner itself, who could drop the trigger).
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql
      SET search_path = pg_catalog, public AS $$
      DECLARE
        v_owner boolean := (SELECT c.relowner = (SELECT r.oid FROM pg_roles r WHERE r.rolname = current_user)
                              FROM pg_class c WHERE c.oid = TG_RELID);
      BEGIN
        IF TG_OP = 'INSERT' THEN
          IF NEW.seq IS NOT NULL OR NEW.prev_id IS NOT NULL OR NEW.prev_hash IS NOT NULL
             OR NEW.hash IS NOT NULL OR NEW.sealed_at IS NOT NULL THEN
            RAISE EXCEPTION 'audit_events is append-only: events are inserted unsealed (event %)', NEW.id
              USING ERRCODE = '42501';
          END IF;
          RETURN NEW;
        ELSIF TG_OP = 'UPDATE' THEN
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
        ELSE
          IF v_owner AND OLD.seq IS NOT NULL THEN
            RETURN OLD;
          END IF;
          RAISE EXCEPTION 'audit_events is append-only: DELETE refused (event %)', OLD.id USING ERRCODE = '42501';
        END IF;
      END $$`);

    await queryRunner.query(`
      CREATE FUNCTION audit_seal(p_first_seq bigint, p_prev_hash text, p_ids bigint[], p_hashes text[])
      RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
      DECLARE
        v_head audit_chain_head%ROWTYPE;
        v_n integer := coalesce(array_length(p_ids, 1), 0);
        v_done bigint;
      BEGIN
        IF v_n = 0 THEN
          RETURN 0;
        END IF;
        IF coalesce(array_length(p_hashes, 1), 0) <> v_n THEN
          RAISE EXCEPTION 'audit_seal: one hash per event' USING ERRCODE = '22023';
        END IF;
        IF EXISTS (SELECT 1 FROM unnest(p_hashes) h WHERE h IS NULL OR h !~ '^[0-9a-f]{64}$') THEN
          RAISE EXCEPTION 'audit_seal: hashes are 64 lowercase hex digits' USING ERRCODE = '22023';
        END IF;
        SELECT * INTO v_head FROM audit_chain_head WHERE id = 1 FOR UPDATE;
        IF p_first_seq IS DISTINCT FROM v_head.last_seq + 1 THEN
          RAISE EXCEPTION 'audit_seal: the next link is seq %, not %', v_head.last_seq + 1, p_first_seq
            USING ERRCODE = '42501';
        END IF;
        IF p_prev_hash IS DISTINCT FROM v_head.last_hash THEN
          RAISE EXCEPTION 'audit_seal: prev_hash must be the head''s hash' USING ERRCODE = '42501';
        END IF;
        WITH v AS (
          SELECT i.id, i.ord, h.hash
            FROM unnest(p_ids) WITH ORDINALITY AS i(id, ord)
            JOIN unnest(p_hashes) WITH ORDINALITY AS h(hash, ord) USING (ord)
        ), links AS (
          SELECT v.id, p_first_seq + v.ord - 1 AS seq, v.hash,
                 coalesce(lag(v.id) OVER (ORDER BY v.ord), v_head.last_id) AS prev_id,
                 coalesce(lag(v.hash) OVER (ORDER BY v.ord), v_head.last_hash) AS prev_hash
            FROM v
        ), done AS (
          UPDATE audit_events AS e
             SET seq = l.seq, prev_id = l.prev_id, prev_hash = l.prev_hash, hash = l.hash,
                 sealed_at = clock_timestamp()
            FROM links l
           WHERE e.id = l.id AND e.hash IS NULL
          RETURNING e.id
        )
        SELECT count(*) INTO v_done FROM done;
        IF v_done <> v_n THEN
          RAISE EXCEPTION 'audit_seal: % of % events are missing or already sealed', v_n - v_done, v_n
            USING ERRCODE = '42501';
        END IF;
        UPDATE audit_chain_head
           SET last_seq = p_first_seq + v_n - 1, last_id = p_ids[v_n], last_hash = p_hashes[v_n], updated_at = now()
         WHERE id = 1;
        RETURN v_n;
      END $$`);

    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_apply_retention(timestamptz, integer)`);
    await queryRunner.query(`
      CREATE FUNCTION audit_apply_retention(p_cutoff timestamptz, p_limit integer)
      RETURNS TABLE (r_removed bigint, r_first_removed_id bigint, r_last_removed_id bigint, r_last_removed_seq bigint)
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
      DECLARE
        v_days integer;
        v_limit_cutoff timestamptz;
        v_first bigint;
        v_last bigint;
        v_hash character(64);
        v_last_id bigint;
        v_count bigint;
        v_min_id bigint;
      BEGIN
        SELECT s.retention_days INTO v_days FROM audit_settings s WHERE s.id = 1;
        IF coalesce(v_days, 0) <= 0 THEN
          RAISE EXCEPTION 'audit retention is off (audit_settings.retention_days = 0)' USING ERRCODE = '42501';
        END IF;
        v_limit_cutoff := now() - make_interval(days => v_days);
        IF p_cutoff IS NULL OR p_cutoff > v_limit_cutoff THEN
          RAISE EXCEPTION 'audit retention refuses a cutoff newer than % days ago', v_days USING ERRCODE = '42501';
        END IF;
        IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000000 THEN
          RAISE EXCEPTION 'audit retention: limit must be 1..1000000' USING ERRCODE = '22023';
        END IF;
        -- One run at a time: the anchor must be the one right after the removed range.
        PERFORM pg_advisory_xact_lock(hashtext('broker.audit.retention.fn'));
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
        WITH gone AS (DELETE FROM audit_events e WHERE e.seq BETWEEN v_first AND v_last RETURNING e.id)
        SELECT count(*), min(gone.id) INTO v_count, v_min_id FROM gone;
        INSERT INTO audit_chain_anchors (first_seq, prev_hash, removed_count, last_removed_id, cutoff)
        VALUES (v_last + 1, v_hash, v_count, v_last_id, p_cutoff);
        INSERT INTO audit_events (type, outcome, actor, target, details)
        VALUES ('audit.retention_applied', 'success', 'system', 'audit_events',
                jsonb_build_object(
                  'removed', v_count, 'first_removed_id', v_min_id::text, 'last_removed_id', v_last_id::text,
                  'cutoff', to_char(p_cutoff AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                  'retention_days', v_days,
                  'anchor_first_seq', (v_last + 1)::text, 'anchor_prev_hash', v_hash));
        RETURN QUERY SELECT v_count, v_min_id, v_last_id, v_last;
      END $$`);

    // Personal fields outside the chained record (libs/audit/src/audit-personal.ts): erasing a
    // developer deletes these rows and every hash still verifies.
    await queryRunner.query(`
      CREATE TABLE "audit_event_personal" (
        "event_id" bigint NOT NULL,
        "ip" inet,
        "user_agent" character varying(512),
        CONSTRAINT "PK_audit_event_personal" PRIMARY KEY ("event_id"),
        CONSTRAINT "FK_audit_event_personal_event" FOREIGN KEY ("event_id") REFERENCES "audit_events" ("id") ON DELETE CASCADE
      )`);
    await queryRunner.query(`CREATE INDEX "IDX_audit_event_personal_ip" ON "audit_event_personal" ("ip")`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_event_personal_no_update" BEFORE UPDATE ON "audit_event_personal"
      FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_event_personal_no_truncate" BEFORE TRUNCATE ON "audit_event_personal"
      FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()`);
    await queryRunner.query(`
      CREATE FUNCTION audit_erase_personal(p_developer uuid) RETURNS bigint
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

    for (const fn of [
      'audit_erase_personal(uuid)',
      'audit_seal(bigint, text, bigint[], text[])',
      'audit_apply_retention(timestamptz, integer)',
      'audit_events_guard()',
      'audit_refuse_change()',
      'audit_chain_head_guard()',
    ]) {
      await queryRunner.query(`REVOKE ALL ON FUNCTION ${fn} FROM PUBLIC`);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_apply_retention(timestamptz, integer)`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_seal(bigint, text, bigint[], text[])`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS audit_erase_personal(uuid)`);
    await queryRunner.query(`DROP TABLE IF EXISTS "audit_event_personal"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "audit_signing_keys"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "audit_checkpoints"`);
    await queryRunner.query(`DROP TABLE IF EXISTS "audit_settings"`);
    // The previous guard and retention function (with their session-setting bypass) are not
    // restored: reverting this migration leaves no DELETE path at all, which is the safe side.
  }
}
