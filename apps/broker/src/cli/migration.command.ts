import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { databaseConfig, type ConfigLoadResult } from '@app/config';
import { migrateDatabase } from '@app/database';
import { withDatabase } from '../server.js';
import { withDataSource } from './cli-context.js';
import { USAGE } from './usage.js';

/** `migration run|revert|check|generate <Name>`. */
export async function migration(
  sub: string | undefined,
  name: string | undefined,
  loaded: ConfigLoadResult,
): Promise<number> {
  switch (sub) {
    case 'run': {
      const { config, embedded } = await withDatabase(loaded.config);
      try {
        // Also writes the owner-only settings and the runtime role's grants.
        const done = await migrateDatabase(databaseConfig.view(config));
        process.stdout.write(done.length ? done.map((m) => `applied ${m}\n`).join('') : 'no pending migrations\n');
        return 0;
      } finally {
        await embedded?.stop();
      }
    }
    case 'revert':
      return withDataSource(loaded, async (ds) => {
        await ds.undoLastMigration({ transaction: 'each' });
        process.stdout.write('reverted the last migration\n');
        return 0;
      });
    case 'check':
    case 'generate':
      return withDataSource(loaded, async (ds) => {
        await ds.runMigrations({ transaction: 'each' });
        const sql = await ds.driver.createSchemaBuilder().log();
        if (sub === 'check') {
          if (sql.upQueries.length === 0) {
            process.stdout.write('migrations and entities agree\n');
            return 0;
          }
          process.stderr.write(
            `entities and migrations disagree; missing from the migrations:\n${sql.upQueries.map((q) => `  ${q.query};`).join('\n')}\n`,
          );
          return 1;
        }
        if (!name || !/^[A-Z][A-Za-z0-9]*$/.test(name)) {
          process.stderr.write('migration generate needs a PascalCase name, e.g. `migration generate AddDevelopers`\n');
          return 2;
        }
        if (sql.upQueries.length === 0) {
          process.stdout.write('nothing to generate: migrations and entities agree\n');
          return 0;
        }
        const ts = Date.now();
        const q = (s: string) => JSON.stringify(s);
        const body = `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${name}${ts} implements MigrationInterface {
  name = '${name}${ts}';

  async up(queryRunner: QueryRunner): Promise<void> {
${sql.upQueries.map((u) => `    await queryRunner.query(${q(u.query)});`).join('\n')}
  }

  async down(queryRunner: QueryRunner): Promise<void> {
${sql.downQueries
  .reverse()
  .map((d) => `    await queryRunner.query(${q(d.query)});`)
  .join('\n')}
  }
}
`;
        const file = path.resolve('libs/database/src/migrations', `${ts}-${name}.ts`);
        writeFileSync(file, body);
        process.stdout.write(
          `wrote ${file}\nregister it at the end of MIGRATIONS in libs/database/src/migrations/index.ts\n`,
        );
        return 0;
      });
    case undefined:
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}
