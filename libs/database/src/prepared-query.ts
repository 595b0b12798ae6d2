import type pg from 'pg';
import type { DataSource } from 'typeorm';

/** A statement Postgres parses and plans once per connection, then only binds and executes. */
export interface PreparedStatement {
  /** Unique per statement text (pg keeps one prepared statement per name and connection). */
  readonly name: string;
  readonly text: string;
}

/**
 * The pg pool under a TypeORM DataSource (its Postgres driver's `master`), for what TypeORM has no
 * API for: named prepared statements, COPY, pool gauges. The one place that reaches into the
 * driver; undefined for any other driver.
 */
export function pgPool(dataSource: DataSource): pg.Pool | undefined {
  const pool = (dataSource.driver as unknown as { master?: pg.Pool }).master;
  return pool && typeof pool.connect === 'function' ? pool : undefined;
}

const names = new Map<string, string>();

/** Declares a prepared statement; a name used for two different texts is a programming error. */
export function preparedStatement(name: string, text: string): PreparedStatement {
  const known = names.get(name);
  if (known !== undefined && known !== text) throw new Error(`prepared statement ${name} declared twice`);
  names.set(name, text);
  return { name, text };
}

/**
 * Runs a prepared statement on the DataSource's own pg pool, for the login path: no TypeORM
 * QueryRunner per call, and Postgres skips parsing and planning after a connection's first use
 * (issue 8: both showed in the broker's and Postgres' CPU per login). Rows come back exactly as
 * from `DataSource.query` (the same pg type parsers). Errors are pg's own (a `DatabaseError`
 * with a SQLSTATE `code`, or a connection error), not wrapped in TypeORM's QueryFailedError.
 */
export async function preparedQuery<R>(
  dataSource: DataSource,
  statement: PreparedStatement,
  values: unknown[],
): Promise<R[]> {
  const pool = pgPool(dataSource);
  if (!pool) return dataSource.query<R[]>(statement.text, values);
  const result = await pool.query<R & pg.QueryResultRow>({ name: statement.name, text: statement.text, values });
  return result.rows;
}

/**
 * A RETURNING column that lets the statement's own transaction commit without waiting for its
 * WAL to reach the disk: `SET LOCAL synchronous_commit = off` as an expression (`set_config`
 * with `is_local`), evaluated only for a row the statement wrote, so a statement that changes
 * nothing leaves the setting alone. Only for a statement that is its own transaction (a
 * `preparedQuery` on the pool) and whose loss in a crash of Postgres is harmless on its own: a
 * login's writes before its audit event (the login state, the developer's login). Postgres
 * writes and flushes the WAL in order, so the audit event's synchronous commit (DURABLE_COMMIT) makes every
 * earlier write of the same login durable before the browser is answered; what a crash can
 * lose (at most about three `wal_writer_delay`s, 0.6 s by default) is only a write whose login
 * had not finished, and Postgres stays consistent (its documentation, "Asynchronous Commit").
 */
export const ASYNC_COMMIT = `set_config('synchronous_commit', 'off', true) AS async_commit`;

/**
 * A RETURNING (or SELECT) column that makes the statement's transaction commit wait for its WAL
 * flush even where the server, the database or the broker's role has `synchronous_commit = off`
 * (the runtime role may `ALTER ROLE … SET synchronous_commit = off` for itself, and a DBA may turn
 * it off for speed): `SET LOCAL synchronous_commit = on` as an expression, only when the value in
 * force is `off`. Every other value (`local`, `remote_write`, `on`, `remote_apply`) already waits
 * for the local flush and is kept, so a standby the DBA made synchronous keeps being waited for.
 * For the commits whose loss the broker must not survive silently: an audit event (evidence, and
 * the flush that makes a login's earlier asynchronous writes durable) and an audit checkpoint (its
 * file is written after the commit; a lost commit would look like a cut-back at the next start).
 */
export const DURABLE_COMMIT = `set_config('synchronous_commit',
    CASE current_setting('synchronous_commit') WHEN 'off' THEN 'on' ELSE current_setting('synchronous_commit') END,
    true) AS durable_commit`;
