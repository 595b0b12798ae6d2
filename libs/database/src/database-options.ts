import type { BrokerConfig } from '@app/config';
import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from './migrations/index.js';

/**
 * The one place that says how the broker talks to Postgres. Schema changes only through the
 * migrations in ./migrations (never `synchronize`); they run at start-up, as the owner role, in
 * migrateDatabase() before this DataSource opens. `asOwner`: connect as the owner
 * (DATABASE_MIGRATION_URL when set), for the migration commands.
 */
export function databaseOptions(config: BrokerConfig, { asOwner = false } = {}): DataSourceOptions {
  const url = asOwner ? (config.database.migrationUrl ?? config.database.url) : config.database.url;
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
    poolSize: config.database.poolSize,
    extra: {
      max: config.database.poolSize,
      connectionTimeoutMillis: 3000,
      // A stopped server must not hang a login: fail the query and let the caller answer 503.
      query_timeout: 10000,
      application_name: 'portal-sso-broker',
    },
    logging: false,
  };
}
