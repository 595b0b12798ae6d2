import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Readable } from 'node:stream';
import { jest } from '@jest/globals';
import fc from 'fast-check';
import pg from 'pg';
import { Logger, type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { AUDIT_EVENT_TYPES } from '../audit-event.js';
import { csvHeader, csvLine, ndjsonLine } from './audit-export-format.js';
import type { AuditQueryInput } from '../audit-filters.js';
import { AuditChainService } from '../audit-chain.service.js';
import { AuditModule } from '../audit.module.js';
import { AuditService } from '../audit.service.js';

// A real full collection before each heap sample, so the numbers measure what is retained.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ROWS = 120_000;
const HEAP_BUDGET = 50 * 1024 * 1024;

/** Retained memory: the JavaScript heap plus Buffers (the export's output lives in Buffers). */
function retained(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Reads the stream to the end, sampling retained memory every `every` lines. */
async function drain(
  stream: Readable,
  every = 20_000,
): Promise<{ lines: number; bytes: number; peak: number; first: string; last: string }> {
  gc();
  const base = retained();
  let peak = 0;
  let lines = 0;
  let bytes = 0;
  let nextSample = every;
  let first = '';
  let carry = '';
  let last = '';
  for await (const chunk of stream) {
    const text = carry + String(chunk);
    bytes += Buffer.byteLength(String(chunk));
    const parts = text.split('\n');
    carry = parts.pop() ?? '';
    if (!first && parts.length > 0) first = parts[0];
    if (parts.length > 0) last = parts[parts.length - 1];
    lines += parts.length;
    if (lines >= nextSample) {
      nextSample += every;
      gc();
      peak = Math.max(peak, retained() - base);
    }
  }
  return { lines, bytes, peak, first, last };
}

describe('audit export of 100k+ rows with bounded memory (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let audit: AuditService;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('auditx');
    app = await createLibApp(db, AuditModule);
    await app.init();
    audit = app.get(AuditService);
    ds = app.get(DataSource);
    // The rows stay unsealed for the whole file: a seal in the middle of a test would change the
    // rows' seq/hash between the paged reference read and the export they are compared with.
    await app.get(AuditChainService).beforeApplicationShutdown();
    // One set-based insert, through the trigger rules (rows arrive unsealed). ~600 bytes a row,
    // so that holding the whole export in memory (~70 MB of text) would blow the budget. As the
    // superuser: it chooses occurred_at, which the runtime role may not.
    await asSuperuser(db, (c) =>
      c.query(
        `INSERT INTO audit_events (occurred_at, type, outcome, reason, actor, target, organisation_id, ip, user_agent, request_id, details)
       SELECT now() - (($1 - g) * interval '1 second'),
              CASE WHEN g % 3 = 0 THEN 'login.failed' ELSE 'login.succeeded' END,
              CASE WHEN g % 3 = 0 THEN 'failure' ELSE 'success' END,
              CASE WHEN g % 3 = 0 THEN 'state_invalid' END,
              'anonymous', 'profile:p' || (g % 5), 'org-' || (g % 4), '10.1.0.1',
              'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36, "quoted"',
              'req-' || g,
              jsonb_build_object('n', g, 'pad', repeat('x', 300))
         FROM generate_series(1, $1) g`,
        [ROWS],
      ),
    );
    await ds.query('ANALYZE audit_events');
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('should stream every row as NDJSON, newest first, keeping heap and buffer growth under 50 MB, with progress lines', async () => {
    const log = jest.spyOn(Logger.prototype, 'log');
    try {
      const stream = await audit.exportEvents({}, 'ndjson');
      const result = await drain(stream);
      expect(result.lines).toBe(ROWS);
      expect(result.bytes).toBeGreaterThan(60 * 1024 * 1024);
      expect(result.peak).toBeLessThan(HEAP_BUDGET);
      const [{ maxid, minid }] = await ds.query(
        'SELECT max(id)::text AS maxid, min(id)::text AS minid FROM audit_events',
      );
      expect((JSON.parse(result.first) as { id: string }).id).toBe(maxid);
      expect((JSON.parse(result.last) as { id: string }).id).toBe(minid);
      const progress = log.mock.calls
        .map((c) => String(c[0]))
        .filter((m) => /audit export \(ndjson\): \d+ rows/.test(m));
      expect(progress).toEqual([expect.stringContaining(': 100000 rows')]);
    } finally {
      log.mockRestore();
    }
  }, 180_000);

  it('should stream every matching row as CSV with a header, keeping heap and buffer growth under 50 MB', async () => {
    const stream = await audit.exportEvents({ type: 'login.*', order: 'asc' }, 'csv');
    const result = await drain(stream);
    expect(result.lines).toBe(ROWS + 1);
    expect(result.peak).toBeLessThan(HEAP_BUDGET);
    expect(result.first).toMatch(/^id,occurred_at,type,outcome,reason,/);
    // The user agent's comma and quotes are quoted, so each row still has one id first.
    expect(result.last).toContain(
      '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36, ""quoted"""',
    );
    const [{ maxid }] = await ds.query('SELECT max(id)::text AS maxid FROM audit_events');
    expect(result.last.startsWith(`${maxid},`)).toBe(true);
  }, 180_000);

  it('should write the same bytes as the reference encoding across batch boundaries', async () => {
    for (const format of ['ndjson', 'csv'] as const) {
      const filters: AuditQueryInput = { organization: 'org-1', order: 'asc' };
      const expected = createHash('sha256').update(format === 'csv' ? csvHeader() : '');
      let rows = 0;
      let cursor: string | undefined;
      for (;;) {
        const page = await audit.query({ ...filters, limit: 1000, cursor });
        for (const record of page.data) expected.update(format === 'csv' ? csvLine(record) : ndjsonLine(record));
        rows += page.data.length;
        if (!page.next_cursor || page.data.length === 0) break;
        cursor = page.next_cursor;
      }
      const actual = createHash('sha256');
      for await (const chunk of await audit.exportEvents(filters, format)) actual.update(chunk as Buffer);
      expect(rows).toBe(ROWS / 4);
      expect(actual.digest('hex')).toBe(expected.digest('hex'));
    }
  }, 180_000);

  it('should stream only the matching rows for a filter', async () => {
    const stream = await audit.exportEvents({ outcome: 'failure', organization: 'org-0' }, 'ndjson');
    const result = await drain(stream);
    const [{ n }] = await ds.query(
      `SELECT count(*)::int AS n FROM audit_events WHERE outcome = 'failure' AND organisation_id = 'org-0'`,
    );
    expect(n).toBeGreaterThan(5000);
    expect(result.lines).toBe(n);
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------
// Byte identity: the export (COPY binary + ExportEncoder) against the reference encoding
// (ndjsonLine/csvLine of the AuditEventRecord rows that `query` returns, i.e. RECORD_COLUMNS as
// pg parses them), over rows made to break one or the other.
// ---------------------------------------------------------------------------------------------

interface RawRow {
  occurredAt: string; // SQL expression
  type: string;
  outcome: string;
  reason: string | null;
  actor: string | null;
  target: string | null;
  profileId: string | null;
  developerId: string | null;
  organisationId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: string | null; // JSON text for ::jsonb
  seal: { seq: number; prevId: string | null; prevHash: string; hash: string; sealedAt: string } | null;
}

const NASTY_TEXT = [
  'say "hi", then leave',
  'back\\slash \\" and \\\\"',
  'line\nbreak\r\nand\ttab',
  '=HYPERLINK("http://evil")',
  '+1',
  '-1',
  '@SUM(A1)',
  '\tindented',
  '\rcarriage',
  "it's",
  'ünïcödé ✓ 😀 \u2028\u2029 \u00a0 \u007f \u0001\u001f',
  ',',
  '"',
  '',
  ' ',
  '{"a": 1}',
  '$1 and $2',
  "E'\\x41'",
];

const NASTY_DETAILS = [
  '{"a": null, "b": [null, 1, {"c": null}], "d": {"e": null}}',
  '{"b":1,"a":2,"10":3,"2":4,"aa":5,"01":6,"-1":7}',
  '{"n": [1.50, 1.0, 1e21, 1e-7, 12345678901234567890, 0.000001, 0.0000001, -0.0, -0, 0, 123456789012345, 1234567890123456, 0.1, 100, 1e2, 2.5e-3]}',
  // Each number alone too, so that one the fast encoder gets wrong is not hidden by another
  // that sends the whole value to JSON.parse.
  ...[
    '1.50',
    '1.0',
    '-2.50',
    '10.10',
    '1e21',
    '1e20',
    '123456789012345678',
    '12345678901234567890',
    '1234567890123456',
    '123456789012345',
    '0.000001',
    '0.0000012',
    '0.00000012',
    '1e-7',
    '-0.0000001',
    '-0.0',
    '-0',
    '0',
    '0.1',
    '100',
    '1e2',
    '2.5e-3',
    '-12.5',
    '9007199254740993',
    '0.30000000000000004',
    '1.7976931348623157e308',
    '5e-324',
  ].map((n) => `{"n": ${n}}`),
  '{"s": "x\\": \\"y", "t": "a, b", "u": "k\\\\", "v": "\\\\\\"", "w": "tab\\there\\n", "x": "\\u0001\\u001f\\u007f", "y": "\\u2028"}',
  '{"k\\"ey": 1, "ключ": "значение", "😀": true, "": false, "__proto__": {"polluted": 1}}',
  '{"deep": {"a": [[], {}, [{"b": [1, {"c": "d"}]}]]}}',
  '"just a string, with \\"quotes\\""',
  '"=cmd|\' /C calc\'!A0"',
  'null',
  '-5',
  '12.25',
  'true',
  '[]',
  '{}',
  '[1, "x", true, false, null]',
  '{"truncated": true, "bytes": 20000}',
];

const EXTREME_TIMES = [
  `'infinity'::timestamptz`,
  `'-infinity'::timestamptz`,
  `'4713-01-01 00:00:00+00 BC'::timestamptz`,
  `'0001-01-01 00:00:00+00 BC'::timestamptz`,
  `'0001-01-01 00:00:00+00'::timestamptz`,
  `'0999-12-31 23:59:59.999999+00'::timestamptz`,
  `'1714-01-01 00:00:00.000001+00'::timestamptz`,
  `'2285-06-01 12:00:00+00'::timestamptz`,
  `'9999-12-31 23:59:59.999999+00'::timestamptz`,
  `'10000-01-01 00:00:00+00'::timestamptz`,
  `'294276-12-31 23:59:59.999999+00'::timestamptz`,
  `'2000-01-01 00:00:00+00'::timestamptz`,
  `'1999-12-31 23:59:59.999999+00'::timestamptz`,
  `'2024-02-29 12:34:56.000001+05:30'::timestamptz`,
  `'1970-01-01 00:00:00+00'::timestamptz`,
  `'1969-12-31 23:59:59.5+00'::timestamptz`,
];

const MICROS_2000 = (us: bigint) =>
  `('2000-01-01 00:00:00+00'::timestamptz + ${us}::bigint * interval '1 microsecond')`;

function rawRows(): RawRow[] {
  const text = (max: number) =>
    fc.option(
      fc.oneof(
        fc.constantFrom(...NASTY_TEXT.map((t) => t.slice(0, max))),
        fc.string({ unit: 'binary', maxLength: max }).filter((s) => !s.includes('\0')),
        fc.string({
          unit: fc.constantFrom('"', ',', '\\', '\n', '\r', '\t', '=', '-', 'a', '\u0001', ' ', 'é'),
          maxLength: max,
        }),
      ),
      { freq: 4 },
    );
  const json = fc.oneof(
    { arbitrary: fc.constantFrom(...NASTY_DETAILS), weight: 1 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 3 },
    {
      arbitrary: fc
        .dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.nat(20).map(String)), fc.jsonValue({ maxDepth: 2 }), {
          maxKeys: 6,
        })
        .map((v) => JSON.stringify(v)),
      weight: 3,
    },
  );
  const ip = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, m]) => `${a}/${m}`),
    fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, m]) => `${a}/${m}`),
    fc.constantFrom(
      '::1',
      '::',
      '::ffff:1.2.3.4',
      '::1.2.3.4',
      '2001:db8::',
      'fe80::1:0:0:1',
      '1:0:0:1:0:0:0:1',
      '0.0.0.0',
      '::ffff:0:0',
    ),
  );
  const time = fc.oneof(
    { arbitrary: fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n }).map(MICROS_2000), weight: 3 },
    { arbitrary: fc.bigInt({ min: 700_000_000_000_000n, max: 900_000_000_000_000n }).map(MICROS_2000), weight: 3 },
    { arbitrary: fc.constantFrom(...EXTREME_TIMES), weight: 1 },
  );
  const hash = fc.oneof(
    fc.stringMatching(/^[0-9a-f]{64}$/),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }).filter((s) => !s.includes('\0')),
  );
  const row = fc.record({
    occurredAt: time,
    type: fc.oneof(
      fc.constantFrom(...AUDIT_EVENT_TYPES),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }).filter((s) => !s.includes('\0')),
    ),
    outcome: fc.constantFrom('success', 'failure'),
    reason: text(200),
    actor: text(300),
    target: text(300),
    profileId: text(200),
    developerId: fc.option(fc.uuid({ version: [1, 2, 3, 4, 5, 6, 7, 8] })),
    organisationId: text(200),
    ip: fc.option(ip),
    userAgent: text(512),
    requestId: text(128),
    details: fc.option(json, { freq: 5 }),
    seal: fc.option(
      fc.record({
        seq: fc.integer({ min: 0, max: 0 }),
        prevId: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String)),
        prevHash: hash,
        hash,
        sealedAt: time,
      }),
    ),
  });
  const sample = fc.sample(row, { numRuns: 600, seed: 20261127 });
  // Every nasty value at least once, whatever the sample drew.
  NASTY_DETAILS.forEach((details, i) => (sample[i].details = details));
  NASTY_TEXT.forEach((t, i) => {
    sample[50 + i].userAgent = t;
    sample[50 + i].reason = t;
  });
  EXTREME_TIMES.forEach((t, i) => {
    sample[100 + i].occurredAt = t;
    sample[130 + i].seal = { seq: 0, prevId: '-9223372036854775808', prevHash: 'x', hash: 'y,"z"', sealedAt: t };
  });
  sample.forEach((r, i) => r.seal && (r.seal.seq = i + 1));
  return sample;
}

/** As the superuser with triggers off: chosen times and arbitrary (pre-sealed) chain values. */
async function insertRows(db: TestDatabase, rows: RawRow[]): Promise<void> {
  await asSuperuser(db, async (c) => {
    await c.query('BEGIN');
    await c.query('SET LOCAL session_replication_role = replica');
    const m = { query: async (sql: string, params?: unknown[]) => (await c.query(sql, params)).rows };
    for (const r of rows) {
      const [{ id }] = await m.query(
        `INSERT INTO audit_events (occurred_at, type, outcome, reason, actor, target, profile_id, developer_id,
                                   organisation_id, ip, user_agent, request_id, details)
         VALUES (${r.occurredAt}, $1, $2, $3, $4, $5, $6, $7::uuid, $8, $9::inet, $10, $11, $12::jsonb) RETURNING id`,
        [
          r.type,
          r.outcome,
          r.reason,
          r.actor,
          r.target,
          r.profileId,
          r.developerId,
          r.organisationId,
          r.ip,
          r.userAgent,
          r.requestId,
          r.details,
        ],
      );
      if (r.seal) {
        await m.query(
          `UPDATE audit_events SET seq = $2, prev_id = $3, prev_hash = $4, hash = $5, sealed_at = ${r.seal.sealedAt} WHERE id = $1`,
          [id, r.seal.seq, r.seal.prevId, r.seal.prevHash, r.seal.hash],
        );
      }
    }
    await c.query('COMMIT');
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks);
}

/** The reference bytes: every page of `query` (RECORD_COLUMNS through pg) encoded by ndjsonLine/csvLine. */
async function referenceExport(
  audit: AuditService,
  filters: AuditQueryInput,
  format: 'ndjson' | 'csv',
): Promise<Buffer> {
  let out = format === 'csv' ? csvHeader() : '';
  let cursor: string | undefined;
  for (;;) {
    const page = await audit.query({ ...filters, limit: 1000, cursor });
    for (const record of page.data) out += format === 'csv' ? csvLine(record) : ndjsonLine(record);
    if (!page.next_cursor || page.data.length === 0) break;
    cursor = page.next_cursor;
  }
  return Buffer.from(out);
}

function firstDifference(actual: Buffer, expected: Buffer): string {
  const a = actual.toString().split('\n');
  const e = expected.toString().split('\n');
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) {
      return `line ${i + 1}:\n  export:    ${JSON.stringify(a[i])}\n  reference: ${JSON.stringify(e[i])}`;
    }
  }
  return 'no line differs';
}

describe('audit export bytes (COPY binary encoder) against the reference encoding (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let audit: AuditService;
  let rows: RawRow[];
  let sealerLock: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('auditb');
    // Held for the whole file: the background sealer skips its ticks, so no row changes between
    // the reference read and the export.
    sealerLock = new pg.Client({ connectionString: db.url });
    await sealerLock.connect();
    await sealerLock.query(`SELECT pg_advisory_lock(hashtext('broker.audit.sealer'))`);
    app = await createLibApp(db, AuditModule);
    await app.init();
    audit = app.get(AuditService);
    rows = rawRows();
    await insertRows(db, rows);
  }, 180_000);

  afterAll(async () => {
    await sealerLock?.end();
    await app?.close();
    await db?.drop();
  });

  const cases: [string, AuditQueryInput][] = [
    ['every event, newest first', {}],
    ['every event, oldest first', { order: 'asc' }],
    ['a type prefix and an outcome', { type: ['login.*', 'admin.auth_failed'], outcome: 'failure', order: 'asc' }],
    ['keywords with quotes, backslashes and LIKE wildcards', { q: `it's back\\slash %_ "hi"` }],
    [
      'an address range and a time window',
      { ip: '10.0.0.0/8', since: '2000-01-01T00:00:00Z', until: '2100-01-01T00:00:00Z' },
    ],
    ['a profile with a quote', { profile: "it's" }],
  ];

  for (const format of ['ndjson', 'csv'] as const) {
    for (const [name, filters] of cases) {
      it(`should write the same ${format} bytes as the reference for ${name}`, async () => {
        const expected = await referenceExport(audit, filters, format);
        const actual = await readAll(await audit.exportEvents(filters, format));
        if (!actual.equals(expected)) throw new Error(`${format} differs at ${firstDifference(actual, expected)}`);
        expect(actual.length).toBe(expected.length);
      });
    }
  }

  it('should have exported rows that exercise every tricky case', async () => {
    const ndjson = (await readAll(await audit.exportEvents({}, 'ndjson'))).toString();
    const lines = ndjson.trimEnd().split('\n');
    expect(lines).toHaveLength(rows.length);
    // The cases the fast encoder hands to JSON.parse/stringify, and the ones it formats itself.
    const expected = [
      '"details":{"2":4,"10":3,"a":2,"b":1,"-1":7,"01":6,"aa":5}', // integer-like keys first, as JavaScript orders them
      '[1.5,1,1e+21,1e-7,12345678901234567000,0.000001,1e-7,0,0,0,123456789012345,1234567890123456,0.1,100,100,0.0025]',
      '"details":{"a":null,"b":[null,1,{"c":null}],"d":{"e":null}}',
      '"details":"just a string, with \\"quotes\\""',
      '"occurred_at":null',
      '"occurred_at":"4713-01-01T00:00:00.000000Z"',
      '"occurred_at":"0001-01-01T00:00:00.000000Z"',
      '"occurred_at":"294276-12-31T23:59:59.999999Z"',
      '"occurred_at":"1969-12-31T23:59:59.500000Z"',
      '"occurred_at":"2024-02-29T07:04:56.000001Z"',
      '"prev_id":"-9223372036854775808"',
      '"ip":"::ffff:1.2.3.4"',
      '"ip":"::1.2.3.4"',
    ];
    expect(expected.filter((snippet) => !ndjson.includes(snippet))).toEqual([]);
    expect(lines.some((l) => /"ip":"[0-9.]+\/\d+"/.test(l))).toBe(true);
    const csv = (await readAll(await audit.exportEvents({}, 'csv'))).toString();
    const csvExpected = [
      "'=HYPERLINK",
      '"\'=HYPERLINK(""http://evil"")"',
      ",'-1,",
      ",'-5,",
      '"just a string, with ""quotes"""',
    ];
    expect(csvExpected.filter((snippet) => !csv.includes(snippet))).toEqual([]);
  });

  it('should write the reference bytes too when the database encoding makes COPY unusable', async () => {
    const probe = jest
      .spyOn(audit as unknown as { binaryCopyIsUtf8(): Promise<boolean> }, 'binaryCopyIsUtf8')
      .mockResolvedValue(false);
    try {
      for (const format of ['ndjson', 'csv'] as const) {
        const expected = await referenceExport(audit, { order: 'asc' }, format);
        const actual = await readAll(await audit.exportEvents({ order: 'asc' }, format));
        expect(actual.equals(expected)).toBe(true);
      }
      expect(probe).toHaveBeenCalled();
    } finally {
      probe.mockRestore();
    }
  });
});
