import type { Readable } from 'node:stream';
import fc from 'fast-check';
import type { AuditEventRecord } from '../audit-record.js';
import { PERSONAL_IP, PERSONAL_USER_AGENT } from '../audit-personal.js';
import { EXPORT_COPY_COLUMNS, ExportEncoder } from './audit-export-encoder.js';
import { CSV_COLUMNS, csvField, csvHeader, csvLine, ndjsonLine } from './audit-export-format.js';
import { copyExportStream } from './audit-export-stream.js';

describe('CSV export', () => {
  it('should quote fields with commas, quotes and line breaks (RFC 4180)', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField(null)).toBe('');
    expect(csvField('plain')).toBe('plain');
  });

  it('should defuse values a spreadsheet would run as formulas', () => {
    expect(csvField('=HYPERLINK("http://evil")')).toBe('"\'=HYPERLINK(""http://evil"")"');
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
  });

  it('should write details as JSON and one column per field', () => {
    const record = Object.fromEntries(CSV_COLUMNS.map((c) => [c, null])) as unknown as AuditEventRecord;
    record.id = '7';
    record.details = { a: 1 };
    const line = csvLine(record);
    expect(line.endsWith('\r\n')).toBe(true);
    const fields = line.trimEnd().split(',');
    expect(fields).toHaveLength(CSV_COLUMNS.length + 0);
    expect(fields[0]).toBe('7');
    expect(line).toContain('{""a"":1}');
    expect(csvHeader().trimEnd().split(',')).toEqual([...CSV_COLUMNS]);
  });
});

// ---------------------------------------------------------------------------------------------
// COPY binary rows built here, the way Postgres sends them, for the encoder.
// ---------------------------------------------------------------------------------------------

const US_2000 = 946_684_800_000_000n; // 2000-01-01 in microseconds since 1970

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function int8(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
}

/** A CopyData message of one row: int16 field count, then (int32 length, bytes) or -1 for null. */
function copyRow(fields: (Buffer | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([fields.length >> 8, fields.length & 255])];
  for (const f of fields) parts.push(f === null ? int32(-1) : Buffer.concat([int32(f.length), f]));
  return Buffer.concat(parts);
}

const COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), int32(0), int32(0)]);
const COPY_TRAILER = Buffer.from([0xff, 0xff]);

interface TestEvent {
  id: bigint;
  occurredUs: bigint | null; // microseconds since 1970; null = infinity
  texts: Record<string, string | null>;
  developerId: string | null;
  detailsText: string | null; // jsonb's text
  seq: bigint | null;
  prevId: bigint | null;
  sealedUs: bigint | null;
}

const TEXT_COLUMNS = [
  'type',
  'outcome',
  'reason',
  'actor',
  'target',
  'profile_id',
  'organisation_id',
  'ip',
  'user_agent',
  'request_id',
  'prev_hash',
  'hash',
] as const;

function timestampField(us: bigint | null): Buffer {
  return int8(us === null ? 0x7fffffffffffffffn : us - US_2000);
}

/** to_char(…, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') for years 1..9999, from Date. */
function isoMicros(us: bigint | null): string | null {
  if (us === null) return null;
  const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
  const micros = us - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, 23)}${String(micros).padStart(3, '0')}Z`;
}

function copyMessage(ev: TestEvent): Buffer {
  const byColumn: Record<string, Buffer | null> = {
    id: int8(ev.id),
    occurred_at: timestampField(ev.occurredUs),
    developer_id: ev.developerId === null ? null : Buffer.from(ev.developerId.replace(/-/g, ''), 'hex'),
    details: ev.detailsText === null ? null : Buffer.concat([Buffer.from([1]), Buffer.from(ev.detailsText)]),
    seq: ev.seq === null ? null : int8(ev.seq),
    prev_id: ev.prevId === null ? null : int8(ev.prevId),
    sealed_at: ev.sealedUs === null ? null : timestampField(ev.sealedUs),
  };
  for (const c of TEXT_COLUMNS) byColumn[c] = ev.texts[c] === null ? null : Buffer.from(ev.texts[c]);
  return copyRow(CSV_COLUMNS.map((c) => byColumn[c] ?? null));
}

/** The record pg would return for the same row through RECORD_COLUMNS. */
function recordOf(ev: TestEvent): AuditEventRecord {
  const bigintText = (v: bigint | null) => (v === null ? null : String(v));
  return Object.fromEntries(
    CSV_COLUMNS.map((c) => {
      if (c === 'id') return [c, String(ev.id)];
      if (c === 'occurred_at') return [c, isoMicros(ev.occurredUs)];
      if (c === 'developer_id') return [c, ev.developerId?.toLowerCase() ?? null];
      if (c === 'details') return [c, ev.detailsText === null ? null : JSON.parse(ev.detailsText)];
      if (c === 'seq') return [c, bigintText(ev.seq)];
      if (c === 'prev_id') return [c, bigintText(ev.prevId)];
      if (c === 'sealed_at') return [c, ev.sealedUs === null ? null : isoMicros(ev.sealedUs)];
      return [c, ev.texts[c]];
    }),
  ) as unknown as AuditEventRecord;
}

/** JSON text the way jsonb_out writes it: a blank after every `,` and `:` between tokens. */
function jsonbStyle(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => jsonbStyle(v)).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${jsonbStyle(v)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** Decimal texts as numeric_out writes them, including ones JavaScript prints otherwise. */
const numericText = fc.oneof(
  fc.integer({ min: -1e9, max: 1e9 }).map(String),
  fc.tuple(fc.integer({ min: -99_999, max: 99_999 }), fc.stringMatching(/^[0-9]{1,12}$/)).map(([i, f]) => `${i}.${f}`),
  fc.stringMatching(/^0\.0{4,8}[1-9][0-9]{0,3}$/),
  fc.stringMatching(/^[1-9][0-9]{14,24}$/),
);

const jsonbText = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map(jsonbStyle),
  fc.dictionary(fc.oneof(fc.string({ maxLength: 5 }), fc.nat(30).map(String)), numericText, { maxKeys: 5 }).map(
    (o) =>
      `{${Object.entries(o)
        .map(([k, v]) => `${JSON.stringify(k)}: ${v}`)
        .join(', ')}}`,
  ),
  numericText,
);

const text = (max: number) =>
  fc.option(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: max }),
      fc.string({
        unit: fc.constantFrom('"', ',', '\\', '\n', '\r', '\t', '=', '+', '-', '@', 'a', '\u0001', 'é'),
        maxLength: max,
      }),
    ),
  );

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
// Years 1..9999, where Date gives the expected text.
const micros = fc.bigInt({ min: -62_135_596_800_000_000n, max: 253_402_300_799_999_999n });

const testEvent: fc.Arbitrary<TestEvent> = fc.record({
  id: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
  occurredUs: fc.option(micros, { freq: 20 }),
  texts: fc.record(
    Object.fromEntries(TEXT_COLUMNS.map((c) => [c, text(40)])) as Record<
      (typeof TEXT_COLUMNS)[number],
      fc.Arbitrary<string | null>
    >,
  ),
  developerId: fc.option(fc.uuid()),
  detailsText: fc.option(jsonbText),
  seq: fc.option(int64),
  prevId: fc.option(int64),
  sealedUs: fc.option(micros),
});

function encode(format: 'ndjson' | 'csv', messages: Buffer[], chunkSize?: number): { text: string; chunks: number } {
  const chunks: Buffer[] = [];
  const encoder = new ExportEncoder(format, (c) => chunks.push(Buffer.from(c)), chunkSize);
  encoder.header();
  for (const m of messages) encoder.copyData(m);
  encoder.flush();
  return { text: Buffer.concat(chunks).toString(), chunks: chunks.length };
}

describe('ExportEncoder (COPY binary rows to NDJSON/CSV)', () => {
  it('should list the COPY columns in the CSV column order', () => {
    // ip and user_agent: the personal fields kept outside the chained record (audit-personal.ts).
    const personal: Record<string, string> = { [`abbrev(${PERSONAL_IP})`]: 'ip', [PERSONAL_USER_AGENT]: 'user_agent' };
    const columns = EXPORT_COPY_COLUMNS.split(', ').map(
      (c) => personal[c] ?? /^(?:abbrev\()?e\.([a-z_]+)\)?$/.exec(c)?.[1],
    );
    expect(columns).toEqual([...CSV_COLUMNS]);
  });

  it('should write exactly what ndjsonLine and csvLine write for the same rows', () => {
    fc.assert(
      fc.property(fc.array(testEvent, { minLength: 1, maxLength: 8 }), (events) => {
        const messages = [COPY_HEADER, ...events.map(copyMessage), COPY_TRAILER];
        const records = events.map(recordOf);
        expect(encode('ndjson', messages).text).toBe(records.map(ndjsonLine).join(''));
        expect(encode('csv', messages).text).toBe(csvHeader() + records.map(csvLine).join(''));
      }),
      { numRuns: 300 },
    );
  });

  it('should write the same bytes whatever the chunk size, across chunk boundaries', () => {
    const events = fc.sample(testEvent, { numRuns: 40, seed: 7 });
    const messages = [COPY_HEADER, ...events.map(copyMessage), COPY_TRAILER];
    const big = encode('ndjson', messages);
    const small = encode('ndjson', messages, 64);
    expect(small.text).toBe(big.text);
    expect(small.chunks).toBeGreaterThan(events.length);
    expect(big.chunks).toBe(1);
  });

  it('should write an infinite timestamp as null, as to_char does', () => {
    const ev = fc.sample(testEvent, { numRuns: 1, seed: 1 })[0];
    ev.occurredUs = null;
    const line = encode('ndjson', [copyMessage(ev)]).text;
    expect(line).toContain('"occurred_at":null');
    expect(
      encode('csv', [copyMessage(ev)])
        .text.split('\r\n')[1]
        .split(',')[1],
    ).toBe('');
  });

  it('should format timestamps next to minute boundaries and past 2^53 microseconds as to_char does', () => {
    const ev = fc.sample(testEvent, { numRuns: 1, seed: 5 })[0];
    const around = (v: bigint) => [v - 1n, v, v + 1n];
    const since2000 = [
      ...[0n, 1n, 59n, 1440n, 150_000_000n, 150_119_999n, -150_119_999n, -1n].flatMap((m) => around(m * 60_000_000n)),
      ...around(2n ** 53n),
      ...around(-(2n ** 53n)),
      ...around(2n ** 57n), // the BigInt path, still within Date's years 1 to 9999
      ...around(-(2n ** 55n)),
    ];
    for (const v of since2000) {
      ev.occurredUs = v + US_2000;
      const line = encode('ndjson', [copyMessage(ev)]).text;
      const expected = isoMicros(ev.occurredUs);
      expect([String(v), /"occurred_at":"([^"]*)"/.exec(line)?.[1]]).toEqual([String(v), expected]);
    }
  });

  it('should keep the keyset position and the row count', () => {
    const events = fc.sample(testEvent, { numRuns: 3, seed: 3 });
    const encoder = new ExportEncoder('ndjson', () => {});
    for (const m of [COPY_HEADER, ...events.map(copyMessage), COPY_TRAILER]) encoder.copyData(m);
    expect(encoder.rows).toBe(3);
    expect(encoder.lastId).toBe(String(events[2].id));
  });

  it('should refuse a stream that is not the export COPY', () => {
    const encoder = new ExportEncoder('ndjson', () => {});
    expect(() => encoder.copyData(Buffer.from('PGCOPY\nnot binary at all'))).toThrow(/not a binary COPY/);
    expect(() => encoder.copyData(copyRow([Buffer.from('1')]))).toThrow(/1 fields/);
  });
});

describe('copyExportStream', () => {
  /** A keyset table of `total` events (newest first), each with a `pad`-byte user agent. */
  function fakeCopy(total: number, pad: number, fail?: { atCall: number }) {
    const calls: (string | null)[] = [];
    const ua = 'x'.repeat(pad);
    const copy = (batchSize: number) => (afterId: string | null, onData: (chunk: Buffer) => void) => {
      calls.push(afterId);
      if (fail && calls.length === fail.atCall) return Promise.reject(new Error('connection lost'));
      const from = afterId === null ? total : Number(afterId) - 1;
      onData(COPY_HEADER);
      for (let id = from; id > Math.max(0, from - batchSize); id--) {
        onData(
          copyMessage({
            id: BigInt(id),
            occurredUs: US_2000,
            texts: Object.fromEntries(TEXT_COLUMNS.map((c) => [c, c === 'user_agent' ? ua : null])),
            developerId: null,
            detailsText: null,
            seq: null,
            prevId: null,
            sealedUs: null,
          }),
        );
      }
      onData(COPY_TRAILER);
      return Promise.resolve();
    };
    return { calls, copy };
  }

  async function lines(stream: Readable): Promise<string[]> {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString().trimEnd().split('\n');
  }

  it('should stream every row once, newest first, in batches, with progress every n rows', async () => {
    const { calls, copy } = fakeCopy(2500, 10);
    const progress: number[] = [];
    const stream = await copyExportStream({
      format: 'ndjson',
      batchSize: 1000,
      copy: copy(1000),
      progressEvery: 1000,
      onProgress: (n) => progress.push(n),
    });
    const out = await lines(stream);
    expect(out).toHaveLength(2500);
    expect(out.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(
      Array.from({ length: 2500 }, (_, i) => String(2500 - i)),
    );
    expect(calls).toEqual([null, '1501', '501']);
    expect(progress).toEqual([1000, 2000]);
  });

  it('should run the next batch only when the consumer has taken the previous one', async () => {
    // 100 rows of ~80 kB per batch: each batch (8 MB) fills the stream's 4 MB buffer.
    const { calls, copy } = fakeCopy(1000, 80_000);
    const stream = await copyExportStream({
      format: 'csv',
      batchSize: 100,
      copy: copy(100),
      progressEvery: 1e9,
      onProgress: () => {},
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toHaveLength(1);
    let bytes = 0;
    const read = new Promise<void>((resolve) => {
      stream.on('data', (c: Buffer) => {
        bytes += c.length;
        // Batches asked for: those the consumer has taken, the one buffered and the one running.
        expect(calls.length).toBeLessThanOrEqual(Math.floor(bytes / 8_000_000) + 2);
      });
      stream.on('end', resolve);
    });
    await read;
    expect(calls).toHaveLength(10 + 1);
  });

  it('should stop asking for batches once the consumer is gone', async () => {
    const { calls, copy } = fakeCopy(1000, 20_000);
    const stream = await copyExportStream({
      format: 'ndjson',
      batchSize: 100,
      copy: copy(100),
      progressEvery: 1e9,
      onProgress: () => {},
    });
    await new Promise<void>((resolve) =>
      stream.once('data', () => {
        stream.destroy();
        resolve();
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.length).toBeLessThanOrEqual(2);
  });

  it('should reject when the first batch fails, and end the stream with the error of a later one', async () => {
    const first = fakeCopy(100, 10, { atCall: 1 });
    await expect(
      copyExportStream({
        format: 'ndjson',
        batchSize: 10,
        copy: first.copy(10),
        progressEvery: 1e9,
        onProgress: () => {},
      }),
    ).rejects.toThrow('connection lost');
    const later = fakeCopy(100, 10, { atCall: 3 });
    const stream = await copyExportStream({
      format: 'ndjson',
      batchSize: 10,
      copy: later.copy(10),
      progressEvery: 1e9,
      onProgress: () => {},
    });
    await expect(lines(stream)).rejects.toThrow('connection lost');
  });
});
