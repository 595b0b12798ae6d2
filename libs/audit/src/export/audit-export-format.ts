import { CHAINED_FIELDS, plainJson } from '../audit-chain.js';
import type { AuditEventRecord } from '../audit-record.js';

// The export format, defined on AuditEventRecord (the rows of RECORD_COLUMNS as pg returns them).
// This is the definition the fast encoder (audit-export-encoder.ts) must reproduce byte for byte
// (audit-export.int-spec.ts compares the two over tricky rows), and the path used when the fast
// one cannot be.

export type AuditExportFormat = 'ndjson' | 'csv';

export const EXPORT_CONTENT_TYPES: Record<AuditExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
};

/** CSV columns, in order; `details` is its JSON text. */
export const CSV_COLUMNS = [
  // The hashed fields first (the same list the chain uses), then the chain's own columns.
  ...CHAINED_FIELDS,
  'seq',
  'prev_id',
  'prev_hash',
  'hash',
  'sealed_at',
] as const satisfies readonly (keyof AuditEventRecord)[];

export type ExportColumn = (typeof CSV_COLUMNS)[number];

/**
 * One RFC 4180 field. A value a spreadsheet would run as a formula (starting with = + - @, tab
 * or CR) gets a leading apostrophe: exports are opened in spreadsheets, and a user agent or a
 * reason is attacker-controlled text.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  // plainJson: JSON.stringify's text at any depth (details from before the database bounded them).
  let s = typeof value === 'string' ? value : plainJson(value);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvLine(record: AuditEventRecord): string {
  return `${CSV_COLUMNS.map((c) => csvField(record[c])).join(',')}\r\n`;
}

export function ndjsonLine(record: AuditEventRecord): string {
  return `${plainJson(record)}\n`;
}
