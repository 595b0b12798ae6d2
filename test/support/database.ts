import { randomBytes } from 'node:crypto';
import { databaseOptions, ensureTwoRoles, migrateDatabase, pgPool } from '@app/database';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { testSlices } from './config.js';

export interface TestDatabase {
  /** The broker's runtime role (what DATABASE_URL names in production): no UPDATE/DELETE on the audit log. */
  url: string;
  /** The owner role that ran the migrations (DATABASE_MIGRATION_URL). */
  migrationUrl: string;
  /** The server's superuser on the same database: a full database compromise, for tamper tests. */
  adminUrl: string;
  name: string;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.TEST_PG_ADMIN_URL;
  if (!url) throw new Error('TEST_PG_ADMIN_URL is not set: run the tests through jest (test/support/global-setup.mjs)');
  return url;
}

/**
 * A fresh database on the run's Postgres server, for one test file, set up the way the broker's
 * default is (issue 14): owned by an owner role that ran the migrations, used through a runtime
 * role holding only the grants the migrations give it.
 */
export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const roles = await ensureTwoRoles(adminUrl(), name, 'test');
  await migrateDatabase(testSlices({ DATABASE_URL: roles.url, DATABASE_MIGRATION_URL: roles.migrationUrl }).database);
  const admin = new URL(adminUrl());
  admin.pathname = `/${name}`;
  return {
    ...roles,
    adminUrl: admin.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * Runs `fn` with the server's superuser on the test database: for seeding what the runtime role may
 * not write (a chosen `occurred_at`, pre-sealed rows) and for tampering as a full compromise would.
 */
export async function asSuperuser<T>(db: TestDatabase, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Runs `sql` in one transaction as the superuser with every trigger off
 * (`session_replication_role = replica`): what a full database compromise, or a DBA, can do.
 */
export function compromiseDatabase(db: TestDatabase, ...sql: string[]): Promise<void> {
  return asSuperuser(db, async (c) => {
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    for (const s of sql) await c.query(s);
    await c.query('COMMIT');
  });
}

/** A DataSource on `url` whose pool holds exactly one connection (for commitModeOf). */
export async function singleConnection(url: string): Promise<DataSource> {
  const ds = new DataSource(databaseOptions(testSlices({ DATABASE_URL: url, DATABASE_POOL_SIZE: '1' }).database));
  return ds.initialize();
}

/**
 * The `synchronous_commit` that what `fn` runs on the pool of `ds` (from singleConnection) leaves
 * in force for its transaction's commit, and the session's value once that transaction is over:
 * `fn` runs inside one open transaction on the pool's only connection, rolled back afterwards.
 */
export async function commitModeOf(
  ds: DataSource,
  fn: () => Promise<unknown>,
): Promise<{ atCommit: string; after: string }> {
  const pool = pgPool(ds);
  if (!pool || pool.options.max !== 1) {
    throw new Error('commitModeOf needs a pool of one connection (singleConnection)');
  }
  const show = async () => {
    const { rows } = await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
    return rows[0]?.synchronous_commit ?? 'unknown';
  };
  await pool.query('BEGIN');
  let atCommit: string;
  try {
    await fn();
    atCommit = await show();
  } finally {
    await pool.query('ROLLBACK');
  }
  return { atCommit, after: await show() };
}
