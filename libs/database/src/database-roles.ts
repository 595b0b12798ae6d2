import type { DatabaseConfig } from '@app/config';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from './migrations/index.js';

/**
 * Two database roles (issue 14): the *owner* runs the migrations and owns every table and
 * function; the *runtime* role (the user in DATABASE_URL) gets exactly what the login path and the
 * admin API need. On the audit tables that is SELECT, INSERT of the event columns (not `id`,
 * `occurred_at` or the chain columns), and EXECUTE on the owner's `audit_seal()` and
 * `audit_apply_retention()`; never UPDATE, DELETE, TRUNCATE, TRIGGER or ownership.
 */

/** The tables whose privileges are set one by one below; every other table gets plain CRUD. */
const AUDIT_TABLES = [
  'audit_events',
  'audit_chain_head',
  'audit_chain_anchors',
  'audit_settings',
  'audit_checkpoints',
  'audit_signing_keys',
  'audit_event_personal',
];

const EVENT_INSERT_COLUMNS = [
  'type',
  'outcome',
  'reason',
  'actor',
  'target',
  'profile_id',
  'developer_id',
  'organisation_id',
  'request_id',
  'details',
];

const RUNTIME_FUNCTIONS = [
  'audit_erase_personal(uuid)',
  'audit_seal(bigint, text, bigint[], text[])',
  'audit_apply_retention(timestamptz, integer)',
];

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The role named in a postgres:// URL. */
export function roleOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

interface Queryable {
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T>;
}

/**
 * Grants the runtime role what it needs, and only that. Idempotent: runs after every migration run
 * as the owner, so tables that later migrations add are covered too.
 */
export async function grantRuntimeRole(db: Queryable, runtimeRole: string): Promise<void> {
  const r = quoteIdent(runtimeRole);
  const [{ database }] = await db.query<{ database: string }[]>(`SELECT current_database() AS database`);
  await db.query(`GRANT CONNECT ON DATABASE ${quoteIdent(database)} TO ${r}`);
  await db.query(`GRANT USAGE ON SCHEMA public TO ${r}`);
  const tables = await db.query<{ name: string }[]>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user`,
  );
  for (const { name } of tables) {
    const t = quoteIdent(name);
    await db.query(`REVOKE ALL ON TABLE ${t} FROM ${r}`);
    if (AUDIT_TABLES.includes(name)) continue;
    // TypeORM reads its migrations table to see that nothing is pending; the SIEM stream's one
    // cursor row is made by its migration, so the runtime role may read and move it, never
    // delete it (which would stop the stream) or insert one of its own.
    const privileges =
      name === 'migrations'
        ? 'SELECT'
        : name === 'audit_stream_cursor'
          ? 'SELECT, UPDATE'
          : 'SELECT, INSERT, UPDATE, DELETE';
    await db.query(`GRANT ${privileges} ON TABLE ${t} TO ${r}`);
  }
  const sequences = await db.query<{ name: string }[]>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'S' AND n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user
        AND NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                         WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND t.relname LIKE 'audit\\_%')`,
  );
  for (const { name } of sequences) await db.query(`GRANT USAGE, SELECT ON SEQUENCE ${quoteIdent(name)} TO ${r}`);
  const present = new Set(tables.map((t) => t.name));
  for (const name of AUDIT_TABLES) if (present.has(name)) await db.query(`GRANT SELECT ON TABLE ${name} TO ${r}`);
  if (present.has('audit_events')) {
    await db.query(`GRANT INSERT (${EVENT_INSERT_COLUMNS.join(', ')}) ON TABLE audit_events TO ${r}`);
  }
  if (present.has('audit_checkpoints')) {
    await db.query(
      `GRANT INSERT (first_seq, last_seq, last_hash, prev_checkpoint_hash, event_count, kid, jws) ON TABLE audit_checkpoints TO ${r}`,
    );
  }
  if (present.has('audit_event_personal')) {
    await db.query(`GRANT INSERT (event_id, ip, user_agent) ON TABLE audit_event_personal TO ${r}`);
  }
  if (present.has('audit_signing_keys')) await db.query(`GRANT INSERT (kid, jwk) ON TABLE audit_signing_keys TO ${r}`);
  for (const fn of RUNTIME_FUNCTIONS) {
    const [{ exists }] = await db.query<{ exists: boolean }[]>(`SELECT to_regprocedure($1) IS NOT NULL AS exists`, [
      fn,
    ]);
    if (exists) await db.query(`GRANT EXECUTE ON FUNCTION ${fn} TO ${r}`);
  }
}

/**
 * What only the owner may set, written each time migrations run as the owner: the audit retention
 * period (BROKER_AUDIT_RETENTION_DAYS), which bounds the cutoff `audit_apply_retention()` accepts.
 */
export async function applyOwnerSettings(db: Queryable, config: DatabaseConfig): Promise<void> {
  await db.query(
    `UPDATE audit_settings SET retention_days = $1, updated_at = now() WHERE id = 1 AND retention_days <> $1`,
    [config.auditRetentionDays],
  );
  const runtime = config.url ? roleOf(config.url) : null;
  const [{ me }] = await db.query<{ me: string }[]>(`SELECT current_user AS me`);
  if (runtime && runtime !== me) await grantRuntimeRole(db, runtime);
}

/**
 * Runs the pending migrations as the owner (DATABASE_MIGRATION_URL, else DATABASE_URL), then the
 * owner's settings and grants. When the connecting role does not own the schema (the runtime role
 * against a database an operator migrated), nothing is pending and there is nothing it may set.
 * Returns the names of the migrations applied.
 */
export async function migrateDatabase(config: DatabaseConfig): Promise<string[]> {
  const url = config.migrationUrl ?? config.url;
  if (!url) throw new Error('database.url is not set: the entry point must start embedded Postgres first');
  const ds = new DataSource({
    type: 'postgres',
    url,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'each',
    extra: { max: 1, connectionTimeoutMillis: 3000, application_name: 'portal-sso-broker-migrations' },
    logging: false,
  });
  await ds.initialize();
  try {
    const done = await ds.runMigrations({ transaction: 'each' });
    const [{ owner }] = await ds.query<{ owner: boolean }[]>(
      `SELECT coalesce((SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c
                         WHERE c.oid = to_regclass('public.audit_settings')), false) AS owner`,
    );
    if (owner) await applyOwnerSettings(ds, config);
    return done.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

export const OWNER_ROLE = 'broker_owner';
export const RUNTIME_ROLE = 'broker_app';

/**
 * The strong default for embedded Postgres and the tests: creates the owner and runtime login roles
 * (idempotent, race-safe) and the database owned by the owner. Objects an older version created as
 * the server's superuser in that database move to the owner, so an existing data folder upgrades.
 */
export async function ensureTwoRoles(
  adminUrl: string,
  database: string,
  password: string,
): Promise<{ migrationUrl: string; url: string }> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    for (const role of [OWNER_ROLE, RUNTIME_ROLE]) {
      const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (rowCount) continue;
      try {
        await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password.replace(/'/g, "''")}'`);
      } catch (e) {
        // 42710 / 23505: created by a concurrent caller in the meantime.
        if (!['42710', '23505'].includes((e as { code?: string }).code ?? '')) throw e;
      }
    }
    const { rows } = await admin.query<{ owner: string }>(
      'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
      [database],
    );
    if (rows.length === 0) {
      try {
        await admin.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${OWNER_ROLE}`);
      } catch (e) {
        if ((e as { code?: string }).code !== '42P04') throw e;
      }
    } else if (rows[0].owner !== OWNER_ROLE) {
      await admin.query(`ALTER DATABASE ${quoteIdent(database)} OWNER TO ${OWNER_ROLE}`);
      await moveObjectsToOwner(adminUrl, database);
    }
  } finally {
    await admin.end();
  }
  const at = (role: string) => {
    const u = new URL(adminUrl);
    u.username = role;
    u.password = password;
    u.pathname = `/${database}`;
    return u.toString();
  };
  return { migrationUrl: at(OWNER_ROLE), url: at(RUNTIME_ROLE) };
}

async function moveObjectsToOwner(adminUrl: string, database: string): Promise<void> {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    const { rows } = await c.query<{ sql: string }>(
      `SELECT format('ALTER %s %s OWNER TO ${OWNER_ROLE}',
                     CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END,
                     c.oid::regclass) AS sql
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
       UNION ALL
       SELECT format('ALTER FUNCTION %s OWNER TO ${OWNER_ROLE}', p.oid::regprocedure)
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')`,
    );
    for (const { sql } of rows) await c.query(sql);
  } finally {
    await c.end();
  }
}
