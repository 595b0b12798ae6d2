import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import pg from 'pg';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { SiemReceiver, waitFor } from '@test/support/siem-receiver.js';
import { AuditModule } from './audit.module.js';
import { AuditService } from './audit.service.js';
import { canonicalEventJson } from './audit-chain.js';
import { CHAIN_COLUMNS } from './audit-personal.js';
import type { AuditEventRecord } from './audit-record.js';
import { DETAILS_OMITTED } from './audit-details-bound.js';
import { AuditStreamService } from './stream/audit-stream.service.js';

const SECRET = 'details-bound-secret-0123456789';

/** `depth` nested arrays around one number that Postgres prints in 301 digits. */
const deepArray = (depth: number) => `${'['.repeat(depth)}1e300${']'.repeat(depth)}`;

const text = async (stream: Readable) => {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
};

/**
 * Crafted `details` (review findings 2 and 3): the database refuses them for every role, and rows
 * from before that bound neither stop the sealer nor break verify, the SIEM stream, the events
 * API or the export.
 */
describe('audit details bound (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let audit: AuditService;
  let stream: AuditStreamService;
  let ds: DataSource;
  let receiver: SiemReceiver;

  const asOwner = async (sql: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: db.migrationUrl });
    await c.connect();
    try {
      return (await c.query(sql, params)).rows as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  };

  /** What the runtime role could insert before 1797000017000-BoundAuditDetails (the bound off meanwhile). */
  const plantBeforeTheBound = async (details: string): Promise<string> => {
    await asSuperuser(db, (c) => c.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_details_bounded`));
    try {
      const [{ id }] = await ds.query<{ id: string }[]>(
        `INSERT INTO audit_events (type, outcome, details) VALUES ('logout', 'success', $1::jsonb) RETURNING id::text AS id`,
        [details],
      );
      return id;
    } finally {
      await asSuperuser(db, (c) => c.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_details_bounded`));
    }
  };

  const delivered = () => receiver.batches.flatMap((b) => b.lines);

  beforeAll(async () => {
    db = await createTestDatabase('details_bound');
    receiver = new SiemReceiver(SECRET);
    await receiver.start();
    app = await createLibApp(db, AuditModule, {
      BROKER_AUDIT_STREAM_URL: receiver.url,
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: 'ndjson',
      BROKER_AUDIT_STREAM_INTERVAL_MS: '50',
      BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: '200',
    });
    await app.init();
    audit = app.get(AuditService);
    stream = app.get(AuditStreamService);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await receiver?.stop();
    await db?.drop();
  });

  describe('the database refuses unbounded details for every role', () => {
    it.each([
      ['6,000 levels deep', deepArray(6000)],
      ['64 levels below the top', `${'['.repeat(64)}1${']'.repeat(64)}`],
      ['an empty array 64 levels below the top', `${'{"a":'.repeat(64)}[]${'}'.repeat(64)}`],
      ['over 64 KB as text', JSON.stringify({ s: 'x'.repeat(65_600) })],
      ['over 64 KB as text once Postgres prints its numbers', JSON.stringify(Array(220).fill(5e-324))],
    ])('should refuse %s from the runtime role and from the owner', async (_what, details) => {
      const insert = `INSERT INTO audit_events (type, outcome, details) VALUES ('logout', 'success', $1::jsonb)`;
      await expect(ds.query(insert, [details])).rejects.toMatchObject({ code: '23514' });
      await expect(asOwner(insert, [details])).rejects.toMatchObject({ code: '23514' });
    });

    it('should accept what is just inside the bound', async () => {
      const insert = `INSERT INTO audit_events (type, outcome, details) VALUES ('logout', 'success', $1::jsonb)`;
      await ds.query(insert, [`${'['.repeat(63)}1${']'.repeat(63)}`]);
      await ds.query(insert, [JSON.stringify({ s: 'x'.repeat(65_000) })]);
      await audit.sealNow();
    });

    it("should never refuse the broker's own events (it keeps well inside the bound)", async () => {
      let deep: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < 100; i++) deep = { next: deep };
      // A toJSON object is kept as it is by safeJson; its JSON may nest any depth.
      const nestedToJson = { toJSON: () => JSON.parse(deepArray(80)) as unknown };
      const inputs = [deep, { at: nestedToJson }, { numbers: Array(220).fill(5e-324) }, { big: 'é'.repeat(20_000) }];
      for (const details of inputs) {
        const { id } = await audit.record({ type: 'profile.updated', outcome: 'success', details });
        const [row] = await ds.query<{ level: boolean; bytes: number }[]>(
          `SELECT jsonb_path_exists(details, 'strict $.**{33}') AS level, octet_length(details::text) AS bytes
             FROM audit_events WHERE id = $1`,
          [id],
        );
        expect(row).toEqual({ level: false, bytes: expect.any(Number) as number });
        expect(row.bytes).toBeLessThanOrEqual(32 * 1024);
      }
      await audit.sealNow();
    });
  });

  describe('rows from before the bound', () => {
    let sealedByIntruder: string;
    let unsealedDeep: string;

    beforeAll(async () => {
      // Everything so far delivered, so that the stream's position is known.
      await audit.sealNow();
      await waitFor('the stream to catch up', async () => (await stream.lagSeconds()) === 0);
    });

    it('should seal an unsealed deep row and whatever follows it (the sealer is not stopped)', async () => {
      unsealedDeep = await plantBeforeTheBound(deepArray(6000));
      const after = await audit.record({ type: 'logout', outcome: 'success', requestId: 'after-deep' });
      await expect(audit.sealNow()).resolves.toBeGreaterThanOrEqual(2);
      const [{ n }] = await ds.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM audit_events WHERE hash IS NULL`);
      expect(n).toBe(0);
      const [row] = await ds.query<{ ids: string[] }[]>(
        `SELECT array_agg(id::text ORDER BY seq) AS ids FROM audit_events WHERE id IN ($1, $2)`,
        [unsealedDeep, after.id],
      );
      expect(row.ids).toEqual([unsealedDeep, after.id]);
    });

    it('should keep a deep row the runtime role sealed itself (audit_seal) verifiable', async () => {
      // What finding 2 did: the runtime role seals it itself (audit_seal is granted to it), with the
      // hash of its canonical JSON, written without JSON.stringify.
      const nested = deepArray(5000);
      sealedByIntruder = await plantBeforeTheBound(nested);
      const [row] = await ds.query<AuditEventRecord[]>(`SELECT ${CHAIN_COLUMNS} FROM audit_events e WHERE e.id = $1`, [
        sealedByIntruder,
      ]);
      const [head] = await ds.query<{ s: string; h: string }[]>(
        `SELECT last_seq::text AS s, last_hash AS h FROM audit_chain_head`,
      );
      const canonical = canonicalEventJson({ ...row, details: 'PLACEHOLDER' }).replace(
        '"PLACEHOLDER"',
        nested.replace('1e300', '1e+300'),
      );
      const hash = createHash('sha256').update(head.h).update(canonical).digest('hex');
      await ds.query(`SELECT audit_seal($1::bigint, $2, ARRAY[$3]::bigint[], ARRAY[$4]::text[])`, [
        String(BigInt(head.s) + 1n),
        head.h,
        sealedByIntruder,
        hash,
      ]);
      await audit.sealNow();
    });

    it('should verify the chain over them (a result, not a RangeError)', async () => {
      await expect(audit.verify()).resolves.toMatchObject({ status: 'intact' });
      await expect(audit.verify({ mode: 'routine' })).resolves.toMatchObject({ status: 'intact' });
    });

    it('should answer the events API with the details omitted, and export them as recorded', async () => {
      const page = await audit.query({});
      // Express writes the page with JSON.stringify: it must not throw (it did: HTTP 500).
      const body = JSON.parse(JSON.stringify(page)) as { data: { id: string; details: unknown }[] };
      for (const id of [unsealedDeep, sealedByIntruder]) {
        expect(body.data.find((e) => e.id === id)?.details).toEqual({ ...DETAILS_OMITTED });
      }
      const ndjson = await text(await audit.exportEvents({}, 'ndjson'));
      const line = ndjson.split('\n').find((l) => l.startsWith(`{"id":"${unsealedDeep}"`));
      expect(line).toContain(`"details":${'['.repeat(6000)}1e+300${']'.repeat(6000)}`);
      const csv = await text(await audit.exportEvents({}, 'csv'));
      expect(csv).toContain(`${unsealedDeep},`);
      expect(csv).toContain(`,${'['.repeat(5000)}1e+300${']'.repeat(5000)},`);
    });

    it('should stream them with the details omitted and go on with the events after them', async () => {
      const marker = await audit.record({ type: 'logout', outcome: 'success', requestId: 'marker' });
      await audit.sealNow();
      await waitFor('the event after the deep rows to be streamed', () => delivered().some((l) => l.id === marker.id));
      for (const id of [unsealedDeep, sealedByIntruder]) {
        expect(delivered().find((l) => l.id === id)?.details).toEqual({ ...DETAILS_OMITTED });
      }
      expect(await stream.status()).toMatchObject({ state: 'delivering', consecutive_failures: 0, last_error: null });
    });
  });

  it('should record a batch that cannot be encoded on the cursor (failures, last error, state) and resume', async () => {
    const stringify = JSON.stringify.bind(JSON);
    const spy = jest.spyOn(JSON, 'stringify').mockImplementation(((value: unknown, ...rest: never[]) => {
      if ((value as { request_id?: unknown } | null)?.request_id === 'unencodable') {
        throw new RangeError('Invalid string length');
      }
      return stringify(value, ...rest);
    }) as typeof JSON.stringify);
    let stuck: Awaited<ReturnType<AuditStreamService['status']>> | undefined;
    let event: { id: string } | undefined;
    try {
      event = await audit.record({ type: 'logout', outcome: 'success', requestId: 'unencodable' });
      await audit.sealNow();
      await waitFor(
        'the encoding failure to be recorded',
        async () => ((await stream.status()).consecutive_failures ?? 0) >= 2,
      );
      stuck = await stream.status();
    } finally {
      spy.mockRestore();
    }
    expect(stuck).toMatchObject({ state: 'retrying' });
    expect(stuck?.last_error).toMatch(/^cannot encode the batch of seq \d+\.\.\d+: RangeError: Invalid string length$/);
    const id = event?.id;
    expect(id).toBeDefined();
    expect(delivered().some((l) => l.id === id)).toBe(false);
    await waitFor('the stream to deliver it once it can be encoded', () => delivered().some((l) => l.id === id));
    await waitFor('the stream to be healthy again', async () => (await stream.status()).state === 'delivering');
  });
});
