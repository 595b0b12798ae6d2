import type { DatabaseConfig } from '@app/config';
import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from './migrations/index.js';

/**
 * The one place that says how the broker talks to Postgres. Schema changes only through the
 * migrations in ./migrations (never `synchronize`); they run at start-up, as the owner role, in
 * migrateDatabase() before this DataSource opens. `asOwner`: connect as the owner
 * (DATABASE_MIGRATION_URL when set), for the migration commands.
 */
export function databaseOptions(config: DatabaseConfig, { asOwner = false } = {}): DataSourceOptions {
  const url = asOwner ? (config.migrationUrl ?? config.url) : config.url;
  if (!url) {
    throw new Error('database.url is not set: the entry point must start embedded Postgres first');
  }
  return {
    type: 'postgres',
    url,
    synchronize: false,
    migrationsRun: false,
    migrationsTransactionMode: 'each',
    migrations: MIGRATIONS,
    poolSize: config.poolSize,
    extra: {
      max: config.poolSize,
      connectionTimeoutMillis: 3000,
      // A stopped server must not hang a login: fail the query and let the caller answer 503.
      query_timeout: 10000,
      application_name: 'portal-sso-broker',
    },
    logging: false,
  };
}
