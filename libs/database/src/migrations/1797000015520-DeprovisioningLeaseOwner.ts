import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Who holds an outbox row's lease. `lease_until` alone said that *someone* held the row, so a
 * worker whose lease had run out (a slow portal) could not tell that another worker had since
 * claimed the row: it carried on with its (possibly stale) action, and its complete/release
 * cleared the other worker's lease. Each claim now writes a fresh token here; the worker checks
 * and extends its lease by that token (and the row's version) right before each effect, and
 * completes, fails or lets go of a row only while it is still the holder.
 */
export class DeprovisioningLeaseOwner1797000015520 implements MigrationInterface {
  name = 'DeprovisioningLeaseOwner1797000015520';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "deprovisioning_outbox" ADD COLUMN "lease_owner" uuid`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "deprovisioning_outbox" DROP COLUMN "lease_owner"`);
  }
}
