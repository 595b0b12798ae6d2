import type pg from 'pg';
import type { DataSource } from 'typeorm';
import { pgPool } from './prepared-query.js';

/**
 * One `COPY … TO STDOUT` on a pg client: each CopyData message goes to `onData` as it arrives
 * (synchronously: the driver reuses the buffer). A pg Submittable, the interface pg-cursor and
 * pg-copy-streams use: the client hands it the backend's messages for this query.
 */
export class CopyOutQuery implements pg.Submittable {
  /** Called once, with the error or null (pg wraps it for its query_timeout). */
  callback: (err: Error | null) => void;
  private failure: Error | null = null;
  private settled = false;

  constructor(
    readonly text: string,
    private readonly onData: (chunk: Buffer) => void,
    done: (err: Error | null) => void,
  ) {
    this.callback = (err) => {
      if (this.settled) return;
      this.settled = true;
      done(err);
    };
  }

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.failure || this.settled) return;
    try {
      this.onData(msg.chunk);
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
    }
  }

  handleCopyInResponse(connection: pg.Connection & { sendCopyFail(msg: string): void }): void {
    connection.sendCopyFail('copy out: not a COPY FROM');
  }

  handleRowDescription(): void {
    this.failure ??= new Error('copy out: expected COPY data, got rows');
  }

  handleDataRow(): void {}

  handleCommandComplete(): void {}

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleError(err: Error): void {
    this.callback(err);
  }

  handleReadyForQuery(): void {
    this.callback(this.failure);
  }
}

/**
 * Runs one `COPY … TO STDOUT` on a connection of the DataSource's pg pool, held for this
 * statement only; resolves when Postgres has sent everything (each CopyData message went to
 * `onData`), rejects with its error or the first error `onData` threw.
 */
export async function copyOut(dataSource: DataSource, sql: string, onData: (chunk: Buffer) => void): Promise<void> {
  const pool = pgPool(dataSource);
  if (!pool) throw new Error('copy out: COPY needs the Postgres driver');
  const client = await pool.connect();
  try {
    await new Promise<void>((resolve, reject) => {
      client.query(new CopyOutQuery(sql, onData, (err) => (err ? reject(err) : resolve())));
    });
  } finally {
    client.release();
  }
}
