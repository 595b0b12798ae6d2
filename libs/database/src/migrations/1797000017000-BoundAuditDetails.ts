import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `audit_events.details` is bounded for every role: no value more than 63 levels below its top
 * (`strict $.**{64}` finds nothing) and at most 64 KB as text (`octet_length(details::text)`).
 * The runtime role could insert any jsonb (a 6,000-deep array overflowed the broker's stack while
 * hashing, streaming or answering the events API). The broker writes at most 32 levels and 32 KB
 * of that text (libs/audit/src/audit-details-bound.ts), so the bound never refuses its events.
 *
 * A BEFORE INSERT trigger whose WHEN condition Postgres evaluates itself (as the insert guard of
 * 1797000009000-AuditInsertGuardInC): its function runs only for an insert it refuses. Not a
 * CHECK constraint, because a CHECK also applies to the sealer's UPDATE: an unbounded row from
 * before this migration could then never be sealed. Rows already there are left as they are
 * (nothing is scanned, so the migration cannot fail on them); the broker reads them at any depth
 * and shows details beyond the bound as `{"omitted": "nested_too_deep", …}` in the events API and
 * the SIEM stream.
 */
export class BoundAuditDetails1797000017000 implements MigrationInterface {
  name = 'BoundAuditDetails1797000017000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE FUNCTION audit_details_refuse() RETURNS trigger LANGUAGE plpgsql
      SET search_path = pg_catalog, public AS $$
      BEGIN
        RAISE EXCEPTION 'audit_events.details is beyond its bound: at most 63 levels deep and 65536 bytes as text'
          USING ERRCODE = '23514';
      END $$`);
    await queryRunner.query(`REVOKE ALL ON FUNCTION audit_details_refuse() FROM PUBLIC`);
    await queryRunner.query(`
      CREATE TRIGGER "audit_events_details_bounded" BEFORE INSERT ON "audit_events"
      FOR EACH ROW WHEN (NEW.details IS NOT NULL AND (octet_length(NEW.details::text) > 65536
        OR jsonb_path_exists(NEW.details, 'strict $.**{64}')))
      EXECUTE FUNCTION audit_details_refuse()`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_events_details_bounded" ON "audit_events"`);
    await queryRunner.query(`DROP FUNCTION audit_details_refuse()`);
  }
}
