import { randomBytes } from 'node:crypto';
import { ensureTwoRoles, migrateDatabase } from '@app/database';
import pg from 'pg';
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
