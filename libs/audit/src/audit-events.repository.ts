import { copyOut, inlineParams, preparedQuery, preparedStatement } from '@app/database';
import type { DataSource, EntityManager } from 'typeorm';
import type { AuditEventInput } from './audit-event.js';
import { auditWhere, type AuditFilters } from './audit-filters.js';
import { INSERT_SQL, RECORD_COLUMNS, insertParams, type AuditEventRecord } from './audit-record.js';
import { EXPORT_COPY_COLUMNS } from './export/audit-export-encoder.js';

// The SQL of the audit events themselves (issue 18): the insert, the keyset reads of query and
// export, the personal-data erasure and the privilege check. Each function runs on the
// DataSource or the transaction's EntityManager its caller passes; AuditService keeps the rules.

const INSERT_EVENT = preparedStatement('audit.insert_event', INSERT_SQL);

/** One INSERT, one round trip; inside the caller's transaction when `manager` is one. */
export async function insertAuditEvent(manager: EntityManager, input: AuditEventInput): Promise<{ id: string }> {
  const rows: { id: string }[] = await manager.query(INSERT_SQL, insertParams(input));
  const row = rows[0];
  if (!row) throw new Error('audit: the insert returned no id');
  return { id: row.id };
}

/** The same INSERT as a prepared statement on the pool (no QueryRunner): an event on its own. */
export function insertAuditEventPrepared(dataSource: DataSource, input: AuditEventInput): Promise<{ id: string }[]> {
  return preparedQuery<{ id: string }>(dataSource, INSERT_EVENT, insertParams(input));
}

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

/** Up to `limit` matching events after `afterId` (keyset on id). */
export function selectAuditEvents(
  dataSource: DataSource,
  filters: AuditFilters,
  afterId: string | null,
  limit: number,
): Promise<AuditEventRecord[]> {
  const { sql, params } = keysetSelect(filters, afterId, RECORD_COLUMNS, limit);
  return dataSource.query<AuditEventRecord[]>(sql, params);
}

/** One export batch as `COPY … (FORMAT binary)` (no bind parameters there: the values become literals). */
export function copyAuditEventBatch(
  dataSource: DataSource,
  filters: AuditFilters,
  afterId: string | null,
  limit: number,
  onData: (chunk: Buffer) => void,
): Promise<void> {
  const { sql, params } = keysetSelect(filters, afterId, EXPORT_COPY_COLUMNS, limit);
  return copyOut(dataSource, `COPY (${inlineParams(sql, params)}) TO STDOUT (FORMAT binary)`, onData);
}

/** The server encoding (SQL_ASCII means COPY's text is not necessarily UTF-8). */
export async function serverEncoding(dataSource: DataSource): Promise<string | undefined> {
  const [row] = await dataSource.query<{ encoding: string }[]>(`SELECT current_setting('server_encoding') AS encoding`);
  return row?.encoding;
}

/** The owner's function that deletes a developer's IP addresses and user agents; how many rows. */
export async function erasePersonal(db: DataSource | EntityManager, developerId: string): Promise<number> {
  const [row] = await db.query<{ n: string }[]>(`SELECT audit_erase_personal($1::uuid)::text AS n`, [
    developerId.toLowerCase(),
  ]);
  return Number(row?.n ?? 0);
}

/** What the current role may do to the audit tables (AuditProtection's input). */
export interface AuditPrivilegeRow {
  superuser: boolean;
  owner: boolean;
  changes: boolean;
}

export async function auditPrivileges(ds: DataSource): Promise<AuditPrivilegeRow | undefined> {
  const [row] = await ds.query<AuditPrivilegeRow[]>(
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
