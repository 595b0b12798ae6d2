import { copyOut, inlineParams, preparedQuery, preparedStatement } from '@app/database';
import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { AuditEventInput } from './audit-event.js';
import { auditWhere, type AuditFilters } from './audit-filters.js';
import { InsertBatcher } from './audit-insert-batcher.js';
import {
  INSERT_MANY_SQL,
  INSERT_SQL,
  RECORD_COLUMNS,
  insertManyParams,
  insertParams,
  type AuditEventRecord,
} from './audit-record.js';
import { EXPORT_COPY_COLUMNS } from './export/audit-export-encoder.js';

const INSERT_EVENT = preparedStatement('audit.insert_event', INSERT_SQL);
const INSERT_EVENTS = preparedStatement('audit.insert_events', INSERT_MANY_SQL);

/**
 * One statement in flight at a time: at 32 concurrent logins on the 2-core machine its batches
 * carry a few events each; a second lane would halve them and double Postgres' commits.
 */
const INSERT_LANES = 1;
/** Most events per statement (a statement's arrays stay small; a burst takes a few rounds). */
const INSERT_BATCH_MAX = 64;
/**
 * A statement in flight this long is taken as stuck (a commit at c=32 takes a few ms): the events
 * waiting go in another lane, up to three more, rather than wait for its query timeout (10 s).
 */
const INSERT_STALLED_AFTER_MS = 100;
const INSERT_STALLED_LANES = 3;

/** The matching events after a keyset position, in the filters' order: one page or one batch. */
function keysetSelect(
  filters: AuditFilters,
  afterId: string | null,
  columns: string,
  limit: number,
): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const where = auditWhere(filters, params);
  if (afterId !== null) {
    params.push(afterId);
    where.push(`e.id ${filters.order === 'asc' ? '>' : '<'} $${params.length}::bigint`);
  }
  params.push(limit);
  const sql = `SELECT ${columns} FROM audit_events e
    ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY e.id ${filters.order === 'asc' ? 'ASC' : 'DESC'} LIMIT $${params.length}`;
  return { sql, params };
}

/** The id the INSERT returned (always one row). */
function insertedId(rows: { id: string }[]): { id: string } {
  const row = rows[0];
  if (!row) throw new Error('audit: the insert returned no id');
  return { id: row.id };
}

/** What the current role may do to the audit tables (AuditProtection's input). */
export interface AuditPrivilegeRow {
  superuser: boolean;
  owner: boolean;
  changes: boolean;
}

/**
 * The SQL of the audit events themselves (issue 18): the insert, the keyset reads of query and
 * export, the personal-data erasure and the privilege check. A method that takes an EntityManager
 * runs in that caller's transaction; AuditService keeps the rules.
 */
@Injectable()
export class AuditEventsRepository implements BeforeApplicationShutdown {
  private readonly batcher: InsertBatcher<(string | null)[]>;

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {
    this.batcher = new InsertBatcher(
      async (params) => insertedId(await preparedQuery<{ id: string }>(this.dataSource, INSERT_EVENT, params)),
      (events) => preparedQuery<{ id: string }>(this.dataSource, INSERT_EVENTS, insertManyParams(events)),
      {
        maxInFlight: INSERT_LANES,
        maxBatch: INSERT_BATCH_MAX,
        stalledAfterMs: INSERT_STALLED_AFTER_MS,
        maxStalledLanes: INSERT_STALLED_LANES,
      },
    );
  }

  /** Events recorded before shutdown are committed before the database connections close. */
  beforeApplicationShutdown(): Promise<void> {
    return this.batcher.drained();
  }

  /** One INSERT, one round trip, inside the caller's transaction (`manager`). */
  async insertIn(manager: EntityManager, input: AuditEventInput): Promise<{ id: string }> {
    const rows: { id: string }[] = await manager.query(INSERT_SQL, insertParams(input));
    return insertedId(rows);
  }

  /**
   * An event on its own, on the pool (no QueryRunner), as a prepared statement: alone when no
   * other insert is in flight, else with the events recorded meanwhile in one statement and one
   * commit (InsertBatcher). Resolves after the commit that holds it.
   */
  async insertPrepared(input: AuditEventInput): Promise<{ id: string }> {
    return this.batcher.add(insertParams(input));
  }

  /** Up to `limit` matching events after `afterId` (keyset on id). */
  select(filters: AuditFilters, afterId: string | null, limit: number): Promise<AuditEventRecord[]> {
    const { sql, params } = keysetSelect(filters, afterId, RECORD_COLUMNS, limit);
    return this.dataSource.query<AuditEventRecord[]>(sql, params);
  }

  /** One export batch as `COPY … (FORMAT binary)` (no bind parameters there: the values become literals). */
  copyBatch(
    filters: AuditFilters,
    afterId: string | null,
    limit: number,
    onData: (chunk: Buffer) => void,
  ): Promise<void> {
    const { sql, params } = keysetSelect(filters, afterId, EXPORT_COPY_COLUMNS, limit);
    return copyOut(this.dataSource, `COPY (${inlineParams(sql, params)}) TO STDOUT (FORMAT binary)`, onData);
  }

  /** The server encoding (SQL_ASCII means COPY's text is not necessarily UTF-8). */
  async serverEncoding(): Promise<string | undefined> {
    const [row] = await this.dataSource.query<{ encoding: string }[]>(
      `SELECT current_setting('server_encoding') AS encoding`,
    );
    return row?.encoding;
  }

  /** The owner's function that deletes a developer's IP addresses and user agents, in `manager`'s transaction when given. */
  async erasePersonal(developerId: string, manager?: EntityManager): Promise<number> {
    const [row] = await (manager ?? this.dataSource).query<{ n: string }[]>(
      `SELECT audit_erase_personal($1::uuid)::text AS n`,
      [developerId.toLowerCase()],
    );
    return Number(row?.n ?? 0);
  }

  /** What the broker's role may do to the audit tables. */
  async privileges(): Promise<AuditPrivilegeRow | undefined> {
    const [row] = await this.dataSource.query<AuditPrivilegeRow[]>(
      `SELECT r.rolsuper AS superuser,
            pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
            (has_table_privilege('audit_events', 'UPDATE') OR has_table_privilege('audit_events', 'DELETE')
             OR has_table_privilege('audit_events', 'TRUNCATE') OR has_table_privilege('audit_events', 'TRIGGER')
             OR has_table_privilege('audit_chain_anchors', 'INSERT')
             OR has_table_privilege('audit_chain_head', 'UPDATE')
             OR has_table_privilege('audit_event_personal', 'UPDATE')) AS changes
       FROM pg_roles r, pg_class c
      WHERE r.rolname = current_user AND c.oid = 'audit_events'::regclass`,
    );
    return row;
  }
}
