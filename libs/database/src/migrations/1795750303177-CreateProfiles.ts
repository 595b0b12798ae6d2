import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateProfiles1795750303177 implements MigrationInterface {
  name = 'CreateProfiles1795750303177';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE TABLE "profiles" ("id" text NOT NULL, "action_type" text NOT NULL, "provider_name" text NOT NULL, "document" jsonb NOT NULL, "document_text" text NOT NULL, "version" integer NOT NULL DEFAULT 1, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_profiles" PRIMARY KEY ("id"))',
    );
    await queryRunner.query('CREATE INDEX "idx_profiles_action_type" ON "profiles" ("action_type")');
    await queryRunner.query('CREATE INDEX "idx_profiles_provider_name" ON "profiles" ("provider_name")');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE "profiles"');
  }
}
