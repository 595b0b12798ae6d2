import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Security console sessions (issue 17), server-side so any replica serves them. The cookie holds
 * a random id; the table holds only its SHA-256 (`id_hash`), so a database reader cannot take over
 * a session. `pending` rows carry a sign-in in progress (state, nonce, PKCE verifier) for ten
 * minutes; `active` rows the staff member's subject, roles and CSRF synchronizer token, with the
 * idle (`last_seen_at`) and absolute (`expires_at`) timeouts. The runtime role needs SELECT,
 * INSERT, UPDATE and DELETE on it.
 */
export class CreateConsoleSessions1797000007001 implements MigrationInterface {
  name = 'CreateConsoleSessions1797000007001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "console_sessions" (
      "id_hash" bytea NOT NULL,
      "kind" text NOT NULL,
      "subject" text,
      "name" text,
      "roles" text[] NOT NULL DEFAULT '{}',
      "csrf_token" text,
      "state" text,
      "nonce" text,
      "verifier" text,
      "return_to" text,
      "created_at" timestamptz NOT NULL DEFAULT now(),
      "last_seen_at" timestamptz NOT NULL DEFAULT now(),
      "expires_at" timestamptz NOT NULL,
      CONSTRAINT "PK_console_sessions" PRIMARY KEY ("id_hash"),
      CONSTRAINT "CHK_console_sessions_kind" CHECK ("kind" IN ('pending', 'active')),
      CONSTRAINT "CHK_console_sessions_active" CHECK ("kind" = 'pending' OR ("subject" IS NOT NULL AND "csrf_token" IS NOT NULL)),
      CONSTRAINT "CHK_console_sessions_pending" CHECK ("kind" = 'active' OR ("state" IS NOT NULL AND "nonce" IS NOT NULL AND "verifier" IS NOT NULL))
    )`);
    await queryRunner.query(`CREATE INDEX "IDX_console_sessions_expires_at" ON "console_sessions" ("expires_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "console_sessions"`);
  }
}
