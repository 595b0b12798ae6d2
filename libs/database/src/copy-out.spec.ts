import type pg from 'pg';
import { CopyOutQuery } from './copy-out.js';

describe('CopyOutQuery', () => {
  const connection = () => {
    const sent: string[] = [];
    return { sent, conn: { query: (t: string) => sent.push(t) } as unknown as pg.Connection };
  };

  it('should send its COPY and hand each CopyData message over, then finish once', () => {
    const chunks: string[] = [];
    const done: (Error | null)[] = [];
    const q = new CopyOutQuery(
      'COPY (SELECT 1) TO STDOUT',
      (c) => chunks.push(c.toString()),
      (e) => done.push(e),
    );
    const { sent, conn } = connection();
    q.submit(conn);
    q.handleCopyData({ chunk: Buffer.from('a') });
    q.handleCopyData({ chunk: Buffer.from('b') });
    q.handleCommandComplete();
    q.handleReadyForQuery();
    q.handleReadyForQuery();
    expect(sent).toEqual(['COPY (SELECT 1) TO STDOUT']);
    expect(chunks).toEqual(['a', 'b']);
    expect(done).toEqual([null]);
  });

  it('should report a failure of the handler when the query ends, and ignore later data', () => {
    const seen: string[] = [];
    const done: (Error | null)[] = [];
    const q = new CopyOutQuery(
      'COPY x',
      (c) => {
        seen.push(c.toString());
        throw new Error('bad row');
      },
      (e) => done.push(e),
    );
    q.handleCopyData({ chunk: Buffer.from('1') });
    q.handleCopyData({ chunk: Buffer.from('2') });
    q.handleReadyForQuery();
    expect(seen).toEqual(['1']);
    expect(done.map((e) => e?.message)).toEqual(['bad row']);
  });

  it('should pass a database error on once and refuse a query that returns rows', () => {
    const done: (Error | null)[] = [];
    const q = new CopyOutQuery(
      'COPY x',
      () => {},
      (e) => done.push(e),
    );
    q.handleError(new Error('canceling statement'));
    q.handleReadyForQuery();
    expect(done.map((e) => e?.message)).toEqual(['canceling statement']);
    const rowsDone: (Error | null)[] = [];
    const r = new CopyOutQuery(
      'SELECT 1',
      () => {},
      (e) => rowsDone.push(e),
    );
    r.handleRowDescription();
    r.handleReadyForQuery();
    expect(rowsDone[0]?.message).toMatch(/expected COPY data/);
  });
});
