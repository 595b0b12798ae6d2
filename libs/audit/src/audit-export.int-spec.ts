import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Readable } from 'node:stream';
import { BrokerConfigModule, loadBrokerConfig } from '@app/config';
import { DatabaseModule } from '@app/database';
import { jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { AuditModule } from './audit.module.js';
import { AuditService } from './audit.service.js';

// A real full collection before each heap sample, so the numbers measure what is retained.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const ROWS = 120_000;
const HEAP_BUDGET = 50 * 1024 * 1024;

/** Reads the stream to the end, sampling the retained heap every `every` lines. */
async function drain(
  stream: Readable,
  every = 20_000,
): Promise<{ lines: number; bytes: number; peak: number; first: string; last: string }> {
  gc();
  const base = process.memoryUsage().heapUsed;
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
      peak = Math.max(peak, process.memoryUsage().heapUsed - base);
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
    const config = loadBrokerConfig({
      env: {
        TYK_IB_PORT: '3010',
        BROKER_DATA_DIR: '/tmp/broker-test-data',
        DATABASE_URL: db.url,
        BROKER_AUDIT_SEAL_INTERVAL_MS: '60000',
      },
      cwd: '/tmp',
    }).config;
    const moduleRef = await Test.createTestingModule({
      imports: [BrokerConfigModule.forRoot(config), DatabaseModule.forRoot(), AuditModule],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    audit = app.get(AuditService);
    ds = app.get(DataSource);
    // One set-based insert, through the trigger rules (rows arrive unsealed). ~600 bytes a row,
    // so that holding the whole export in memory (~70 MB of text) would blow the budget.
    await ds.query(
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
    );
    await ds.query('ANALYZE audit_events');
  }, 180_000);

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('should stream every row as NDJSON, newest first, keeping the heap growth under 50 MB, with progress lines', async () => {
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

  it('should stream every matching row as CSV with a header, keeping the heap growth under 50 MB', async () => {
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
