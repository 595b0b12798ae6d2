import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The last Tyk key or OAuth access token the token actions issued per (profile, user), so the
 * next login revokes it on any instance, also after a restart (TIB's Redis `identity-cache.`).
 * At rest only what revocation needs: `lookup` is an HMAC of the cache key (no user id in clear)
 * and `sealed` the token under AES-256-GCM, both keyed from TYK_IB_SESSION_SECRET. One row per
 * (profile, user), replaced on every login; rows past the token's own expiry are purged.
 */
export class CreateIssuedTokens1797000004000 implements MigrationInterface {
  name = 'CreateIssuedTokens1797000004000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "issued_tokens" (
      "lookup" bytea NOT NULL,
      "sealed" bytea NOT NULL,
      "issued_at" timestamptz NOT NULL DEFAULT now(),
      "expires_at" timestamptz,
      CONSTRAINT "PK_issued_tokens" PRIMARY KEY ("lookup"),
      CONSTRAINT "CHK_issued_tokens_sealed_size" CHECK (octet_length("sealed") <= 4200)
    )`);
    await queryRunner.query(`CREATE INDEX "IDX_issued_tokens_expires_at" ON "issued_tokens" ("expires_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_issued_tokens_expires_at"`);
    await queryRunner.query(`DROP TABLE "issued_tokens"`);
  }
}
