import { Readable } from 'node:stream';
import { CHAINED_FIELDS } from './audit-chain.js';
import type { AuditEventRecord } from './audit-record.js';

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

/**
 * One RFC 4180 field. A value a spreadsheet would run as a formula (starting with = + - @, tab
 * or CR) gets a leading apostrophe: exports are opened in spreadsheets, and a user agent or a
 * reason is attacker-controlled text.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let s = typeof value === 'string' ? value : JSON.stringify(value);
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
  return `${JSON.stringify(record)}\n`;
}

/**
 * A Readable over keyset batches: it asks for the next batch only when the consumer has read
 * the previous one, so memory stays at about one batch however many rows match.
 */
export function batchStream(options: {
  format: AuditExportFormat;
  /** The first batch, already fetched (so that a failing database is reported before streaming). */
  first: AuditEventRecord[];
  batchSize: number;
  next: (last: AuditEventRecord) => Promise<AuditEventRecord[]>;
  onProgress: (rows: number) => void;
  progressEvery: number;
}): Readable {
  const line = options.format === 'csv' ? csvLine : ndjsonLine;
  let pending: AuditEventRecord[] | null = options.first;
  let last: AuditEventRecord | null = null;
  let rows = 0;
  let started = false;
  let done = false;
  const emit = (stream: Readable, batch: AuditEventRecord[]) => {
    let chunk = !started && options.format === 'csv' ? csvHeader() : '';
    started = true;
    for (const record of batch) {
      chunk += line(record);
      rows++;
      if (rows % options.progressEvery === 0) options.onProgress(rows);
    }
    if (batch.length > 0) last = batch[batch.length - 1];
    if (batch.length < options.batchSize) done = true;
    if (chunk !== '') stream.push(chunk);
    if (done) stream.push(null);
  };
  return new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      if (pending) {
        const batch = pending;
        pending = null;
        emit(this, batch);
        return;
      }
      if (done || !last) {
        this.push(null);
        return;
      }
      options.next(last).then(
        (batch) => emit(this, batch),
        (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
      );
    },
  });
}
