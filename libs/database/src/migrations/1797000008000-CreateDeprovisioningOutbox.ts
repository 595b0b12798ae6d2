import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The deprovisioning outbox: what the portal (and the Tyk tokens the broker issued) still has to
 * be told about a developer's block, unblock or erasure. One row per developer holds the latest
 * wish (`action`, bumped `version`); workers on any instance claim due rows with FOR UPDATE SKIP
 * LOCKED and a short lease, so a portal outage delays the effect but never loses it, also across
 * restarts. `subject` and `email` (to revoke tokens and find the portal user after an erasure)
 * are cleared once the row is done. `state`/`last_error` are what `GET /api/developers/{id}` shows as `portal_sync`.
 */
export class CreateDeprovisioningOutbox1797000008000 implements MigrationInterface {
  name = 'CreateDeprovisioningOutbox1797000008000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "deprovisioning_outbox" (
      "developer_id" uuid NOT NULL,
      "action" varchar(16) NOT NULL,
      "portal_user_id" varchar(100),
      "subject" varchar(255),
      "email" varchar(320),
      "state" varchar(16) NOT NULL DEFAULT 'pending',
      "version" integer NOT NULL DEFAULT 1,
      "attempts" integer NOT NULL DEFAULT 0,
      "next_attempt_at" timestamptz NOT NULL DEFAULT now(),
      "lease_until" timestamptz,
      "last_error" varchar(500),
      "actor" varchar(300),
      "updated_at" timestamptz NOT NULL DEFAULT now(),
      "done_at" timestamptz,
      CONSTRAINT "PK_deprovisioning_outbox" PRIMARY KEY ("developer_id"),
      CONSTRAINT "FK_deprovisioning_outbox_developer" FOREIGN KEY ("developer_id") REFERENCES "developers" ("id") ON DELETE CASCADE,
      CONSTRAINT "CHK_deprovisioning_outbox_action" CHECK ("action" IN ('deactivate', 'reactivate', 'delete')),
      CONSTRAINT "CHK_deprovisioning_outbox_state" CHECK ("state" IN ('pending', 'done', 'failed'))
    )`);
    await queryRunner.query(
      `CREATE INDEX "IDX_deprovisioning_outbox_due" ON "deprovisioning_outbox" ("next_attempt_at") WHERE "state" IN ('pending', 'failed')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_deprovisioning_outbox_due"`);
    await queryRunner.query(`DROP TABLE "deprovisioning_outbox"`);
  }
}
