import { Readable } from 'node:stream';
import type { AuditEventRecord } from '../audit-record.js';
import { ExportEncoder } from './audit-export-encoder.js';
import { csvHeader, csvLine, ndjsonLine, type AuditExportFormat } from './audit-export-format.js';

/**
 * A Readable over keyset batches of AuditEventRecord, encoded by ndjsonLine/csvLine: it asks for
 * the next batch only when the consumer has read the previous one, so memory stays at about one
 * batch however many rows match. The reference path (and the fallback for a database whose
 * encoding is SQL_ASCII, where the bytes Postgres sends need not be UTF-8).
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
    // Room for several batches: the next COPY runs while the client still drains the last one.
    highWaterMark: 4 * 1024 * 1024,
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

/**
 * The export as a Readable of NDJSON/CSV bytes over keyset batches, each one COPY (run by
 * `copy`, which gets the keyset position and the CopyData handler). The first batch runs before
 * this resolves, so a failing database is reported before the response starts. The next batch
 * runs when the consumer has taken what the previous one produced (backpressure), so memory
 * stays at about one batch however many rows match, and no database connection is held while
 * the consumer is slow.
 */
export async function copyExportStream(options: {
  format: AuditExportFormat;
  batchSize: number;
  copy: (afterId: string | null, onData: (chunk: Buffer) => void) => Promise<void>;
  onProgress: (rows: number) => void;
  progressEvery: number;
}): Promise<Readable> {
  // `running`: a batch is in flight (read() may come meanwhile: it only sets `wantMore`).
  // `wantMore`: the last push() left room, or read() came since: go on with the next batch.
  let running = true;
  let done = false;
  let wantMore = false;
  const stream = new Readable({
    // Room for several batches: the next COPY runs while the client still drains the last one.
    highWaterMark: 4 * 1024 * 1024,
    read() {
      wantMore = true;
      if (!running && !done) pump().catch((err: unknown) => stream.destroy(toError(err)));
    },
    destroy(err, callback) {
      done = true;
      callback(err);
    },
  });
  const encoder = new ExportEncoder(options.format, (chunk) => {
    if (!stream.destroyed) wantMore = stream.push(chunk);
  });
  let nextProgress = options.progressEvery;
  const onData = (chunk: Buffer) => {
    encoder.copyData(chunk);
    if (encoder.rows === nextProgress) {
      nextProgress += options.progressEvery;
      options.onProgress(encoder.rows);
    }
  };
  const runBatch = async (): Promise<void> => {
    const before = encoder.rows;
    await options.copy(encoder.lastId, onData);
    encoder.flush();
    if (encoder.rows - before < options.batchSize) {
      done = true;
      if (!stream.destroyed) stream.push(null);
    }
  };
  const pump = async (): Promise<void> => {
    running = true;
    try {
      do await runBatch();
      while (!done && wantMore);
    } finally {
      running = false;
    }
  };
  encoder.header();
  try {
    await runBatch();
  } catch (err) {
    stream.destroy();
    throw err;
  } finally {
    running = false;
  }
  return stream;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
