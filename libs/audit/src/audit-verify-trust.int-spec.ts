import { generateKeyPairSync } from 'node:crypto';
import { jest } from '@jest/globals';
import { Logger, type INestApplication } from '@nestjs/common';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { compromiseDatabase, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { recordLogins, startAuditApp } from '@test/support/audit-app.js';
import { chainHash } from './audit-chain.js';
import { AuditChainService } from './audit-chain.service.js';
import { AuditCheckpointsService } from './audit-checkpoints.service.js';
import { RECORD_COLUMNS, type AuditEventRecord } from './audit-record.js';
import { signingKeyFromText } from './audit-signing-key.js';
import { signAuditJws } from './audit-verifier.js';
import { VERIFIED_JWS_TYPE } from './audit-verify-trust.js';
import { AuditService } from './audit.service.js';

/**
 * Someone holding only the broker's runtime database role (`broker_app`) inserts an
 * `audit.verified` event it made up. It must not silence the scheduled full verify nor narrow the
 * routine verify: otherwise an earlier rewrite by the owner (a DBA) would go unnoticed.
 */
interface Ctx {
  db: TestDatabase;
  app: INestApplication;
  audit: AuditService;
  chain: AuditChainService;
  ds: DataSource;
}

const EVERY = 5;
const TAMPERED_SEQ = '3';

async function boot(env: Record<string, string> = {}): Promise<Ctx> {
  const db = await createTestDatabase('trust');
  const { app, audit, ds } = await startAuditApp(db, { every: EVERY, env });
  await recordLogins(audit, 30);
  return { db, app, audit, chain: app.get(AuditChainService), ds };
}

/** An old event changed by the owner without re-chaining: only a walk over it notices. */
function tamperOldEvent(ctx: Ctx): Promise<void> {
  return compromiseDatabase(ctx.db, `UPDATE audit_events SET request_id = 'forged' WHERE seq = ${TAMPERED_SEQ}`);
}

async function headSeq(ctx: Ctx): Promise<string> {
  const [{ s }] = await ctx.ds.query<{ s: string }[]>(`SELECT last_seq::text AS s FROM audit_chain_head`);
  return s;
}

/** As the runtime role (the test's DataSource connects as broker_app): a made-up audit.verified, sealed. */
async function forgeVerified(ctx: Ctx, details: Record<string, unknown>): Promise<string> {
  const [{ me }] = await ctx.ds.query<{ me: string }[]>(`SELECT current_user AS me`);
  expect(me).toBe('broker_app');
  const [{ id }] = await ctx.ds.query<{ id: string }[]>(
    `INSERT INTO audit_events (type, outcome, actor, target, details)
       VALUES ('audit.verified', 'success', 'system', 'audit_events', $1::jsonb) RETURNING id::text AS id`,
    [JSON.stringify(details)],
  );
  await ctx.audit.sealNow();
  return id;
}

/** Only Date runs at `now` (jest.useRealTimers() ends it): the database driver's timers and I/O stay real. */
function fakeDateOnly(now: Date): void {
  jest.useFakeTimers({
    now,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
}

/** The routine verify's random sample re-reads the newest older ranges, never the one with seq 3. */
function sampleNewestRanges(): { mockRestore(): void } {
  return jest.spyOn(Math, 'random').mockReturnValue(0.99);
}

function warningsAbout(warn: { mock: { calls: unknown[][] } }, id: string): string[] {
  return warn.mock.calls.map(([m]) => String(m)).filter((m) => m.includes(`audit.verified event ${id})`));
}

describe('recorded full verifies that the runtime role forged are not trusted (real Postgres)', () => {
  let ctx: Ctx;

  beforeEach(async () => {
    ctx = await boot();
  });

  afterEach(async () => {
    await ctx?.app.close();
    await ctx?.db.drop();
  });

  it('should still run the scheduled full verify and report the owner-level tamper despite a forged intact record', async () => {
    await tamperOldEvent(ctx);
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const forged = await forgeVerified(ctx, { mode: 'full', status: 'intact', last_seq: await headSeq(ctx) });
      // The console's "last verify" does not pass it off as one.
      expect(await ctx.audit.lastFullVerify()).toMatchObject({ status: 'intact', trusted: false });
      const result = await ctx.chain.scheduledFullVerify();
      expect(result).toMatchObject({
        status: 'broken',
        mode: 'full',
        firstBadSeq: TAMPERED_SEQ,
        problem: 'hash_mismatch',
      });
      const [line] = warningsAbout(warn, forged);
      expect(line).toMatch(/is not trusted: it carries no proof signed with this broker's audit signing key/);
      // The broken result this broker recorded (signed) counts: the next run within the period skips.
      expect(await ctx.chain.scheduledFullVerify()).toBeNull();
      expect(warningsAbout(warn, forged)).toHaveLength(1);
    } finally {
      warn.mockRestore();
    }
  });

  it('should make a routine verify walk the whole log and find the owner-level tamper despite a forged intact record', async () => {
    await tamperOldEvent(ctx);
    const forged = await forgeVerified(ctx, { mode: 'full', status: 'intact', last_seq: await headSeq(ctx) });
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const random = sampleNewestRanges();
    try {
      for (let i = 0; i < 2; i++) {
        expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({
          status: 'broken',
          mode: 'routine',
          since: '1',
          firstBadSeq: TAMPERED_SEQ,
          problem: 'hash_mismatch',
        });
      }
      // Logged once, without the event's details.
      expect(warningsAbout(warn, forged)).toHaveLength(1);
    } finally {
      random.mockRestore();
      warn.mockRestore();
    }
  });

  it("should not trust a forged record whose proof is signed by a key the runtime role published in audit_signing_keys, a checkpoint's JWS or a copied proof", async () => {
    const own = await signingKeyFromText(
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    await ctx.ds.query(`INSERT INTO audit_signing_keys (kid, jwk) VALUES ($1, $2)`, [
      own.kid,
      JSON.stringify(own.publicJwk),
    ]);
    const head = await headSeq(ctx);
    const [{ hash }] = await ctx.ds.query<{ hash: string }[]>(`SELECT hash FROM audit_events WHERE seq = $1`, [head]);
    const facts = { v: 1, mode: 'full', status: 'intact', last_seq: head, last_hash: hash };
    const ownProof = await signAuditJws(
      { ...facts, time: new Date().toISOString(), nonce: 'n', kid: own.kid },
      own,
      VERIFIED_JWS_TYPE,
    );
    const [{ jws: checkpointJws }] = await ctx.ds.query<{ jws: string }[]>(
      `SELECT jws FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1`,
    );
    // A proof made with this broker's key two days ago, copied into a new event: not a recent verify.
    const stale = await ctx.app
      .get(AuditCheckpointsService)
      .signOwn({ ...facts, time: new Date(Date.now() - 48 * 3600_000).toISOString(), nonce: 'old' }, VERIFIED_JWS_TYPE);
    await tamperOldEvent(ctx);
    for (const proof of [ownProof, checkpointJws, stale]) {
      await forgeVerified(ctx, { mode: 'full', status: 'intact', last_seq: head, proof });
    }
    expect(await ctx.chain.scheduledFullVerify()).toMatchObject({ status: 'broken', firstBadSeq: TAMPERED_SEQ });
  });

  it('should let a legitimate recorded full verify skip the next scheduled one and start routine verifies after it', async () => {
    const first = await ctx.chain.scheduledFullVerify();
    expect(first).toMatchObject({ status: 'intact', mode: 'full', count: 30, lastSeq: '30' });
    const [recorded] = await ctx.ds.query<{ details: Record<string, unknown> }[]>(
      `SELECT details FROM audit_events WHERE type = 'audit.verified'`,
    );
    expect(recorded.details).toMatchObject({
      mode: 'full',
      status: 'intact',
      last_seq: '30',
      proof: expect.any(String),
    });
    expect(await ctx.chain.scheduledFullVerify()).toBeNull();
    expect(await ctx.audit.lastFullVerify()).toEqual({ at: expect.any(Date), status: 'intact', trusted: true });
    await ctx.audit.sealNow();
    expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({ status: 'intact', since: '31' });
  });

  it('should run the scheduled full verify at every tick of its period on a single instance, not every other one', async () => {
    const HOUR_MS = 3_600_000;
    // The timer ticks every BROKER_AUDIT_FULL_VERIFY_HOURS (24) from bootstrap; the run's proof is
    // dated after its tick (the walk takes time).
    const tick = Date.now();
    expect(await ctx.chain.scheduledFullVerify(new Date(tick))).toMatchObject({ status: 'intact', mode: 'full' });
    // Within the period (another instance's tick, a restart): skipped.
    expect(await ctx.chain.scheduledFullVerify(new Date(tick + 12 * HOUR_MS))).toBeNull();
    // The next tick, one period after the previous one: runs again.
    expect(await ctx.chain.scheduledFullVerify(new Date(tick + 24 * HOUR_MS))).toMatchObject({
      status: 'intact',
      mode: 'full',
    });
    const recorded = await ctx.ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE type = 'audit.verified'`,
    );
    expect(recorded[0].n).toBe(2);
  });

  it('should report the full verify as overdue (state, log, verify API) while the runtime role keeps its lock', async () => {
    const HOUR_MS = 3_600_000;
    expect(await ctx.chain.scheduledFullVerify()).toMatchObject({ status: 'intact', mode: 'full' });
    const completed = Date.now();
    expect(await ctx.audit.fullVerifyState()).toBeNull();
    // Whoever has the broker's DATABASE_URL takes the lock every full verify needs, and keeps it.
    const holder = new pg.Client({ connectionString: ctx.db.url });
    await holder.connect();
    const error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const [{ me }] = (await holder.query<{ me: string }>(`SELECT current_user AS me`)).rows;
      expect(me).toBe('broker_app');
      await holder.query(`SELECT pg_advisory_lock(hashtext('broker.audit.full_verify'))`);
      // The next period (24 h) is due: the scheduled verify skips; two periods on it is not overdue yet.
      const due = new Date(completed + 25 * HOUR_MS);
      expect(await ctx.chain.scheduledFullVerify(due)).toBeNull();
      expect(await ctx.audit.fullVerifyState(new Date(completed + 71 * HOUR_MS))).toBeNull();
      expect(error).not.toHaveBeenCalled();
      // Three periods without a completed full verify: overdue, everywhere it is reported.
      const late = new Date(completed + 73 * HOUR_MS);
      expect(await ctx.chain.scheduledFullVerify(late)).toBeNull();
      expect(error.mock.calls.map(([m]) => String(m))).toEqual([
        expect.stringMatching(
          /^audit full verify overdue: none has completed since .* \(73 h, more than 72 h\).*holds the lock broker\.audit\.full_verify/,
        ),
      ]);
      const state = await ctx.audit.fullVerifyState(late);
      expect(state).toEqual({
        fullVerify: 'overdue',
        fullVerifyOverdue: { lastCompletedAt: expect.any(String), waitingSeconds: expect.any(Number), limitHours: 72 },
      });
      const lastCompletedAt = Date.parse(state?.fullVerifyOverdue.lastCompletedAt ?? '');
      expect(lastCompletedAt).toBeGreaterThan(completed - 60_000);
      expect(lastCompletedAt).toBeLessThanOrEqual(completed);
      // The verify API says so too (only Date runs three days later; timers and I/O stay real).
      fakeDateOnly(late);
      try {
        await expect(ctx.audit.verify({}, { recordAs: 'admin:a' })).rejects.toMatchObject({
          code: 'verify_running',
          message: expect.stringMatching(/The full verify is overdue: none has completed since/),
          details: { fullVerify: 'overdue', fullVerifyOverdue: { limitHours: 72 } },
        });
        expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({
          status: 'intact',
          fullVerify: 'overdue',
          fullVerifyOverdue: { limitHours: 72 },
        });
      } finally {
        jest.useRealTimers();
      }
    } finally {
      error.mockRestore();
      await holder.end();
    }
    // The lock is free again: the next scheduled verify runs, and the state clears.
    fakeDateOnly(new Date(completed + 74 * HOUR_MS));
    try {
      expect(await ctx.chain.scheduledFullVerify()).toMatchObject({ status: 'intact', mode: 'full' });
      expect(await ctx.audit.fullVerifyState()).toBeNull();
    } finally {
      jest.useRealTimers();
    }
  });

  it('should stop trusting a legitimate record once the owner rewrote and re-chained the events up to it', async () => {
    expect(await ctx.audit.verify({}, { recordAs: 'system' })).toMatchObject({ status: 'intact', lastSeq: '30' });
    await ctx.audit.sealNow();
    // Re-chain from seq 3 to the head, as a DBA would to make the chain look whole.
    const rows = await ctx.ds.query<{ id: string; seq: string }[]>(
      `SELECT id::text AS id, seq::text AS seq FROM audit_events WHERE seq >= ${TAMPERED_SEQ} ORDER BY seq`,
    );
    const [{ prev }] = await ctx.ds.query<{ prev: string }[]>(`SELECT hash AS prev FROM audit_events WHERE seq = 2`);
    let prevHash = prev;
    const sql: string[] = [];
    for (const { id } of rows) {
      const [row] = await ctx.ds.query<AuditEventRecord[]>(
        `SELECT ${RECORD_COLUMNS} FROM audit_events e WHERE e.id = $1`,
        [id],
      );
      if (row.seq === TAMPERED_SEQ) row.request_id = 'forged';
      const hash = chainHash(prevHash, row);
      sql.push(
        `UPDATE audit_events SET request_id = '${row.request_id}', prev_hash = '${prevHash}', hash = '${hash}' WHERE id = ${id}`,
      );
      prevHash = hash;
    }
    sql.push(`UPDATE audit_chain_head SET last_hash = '${prevHash}'`);
    await compromiseDatabase(ctx.db, ...sql);
    const random = sampleNewestRanges();
    try {
      // The hash at the recorded last seq changed: the routine verify starts at the beginning.
      expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({
        status: 'broken',
        since: '1',
        problem: 'hash_mismatch',
      });
    } finally {
      random.mockRestore();
    }
    expect(await ctx.chain.scheduledFullVerify()).toMatchObject({ status: 'broken' });
  });
});

describe('recorded full verifies without a signing key (real Postgres)', () => {
  let ctx: Ctx;

  beforeAll(async () => {
    ctx = await boot({ BROKER_AUDIT_SIGNING: 'off' });
  });

  afterAll(async () => {
    await ctx?.app.close();
    await ctx?.db.drop();
  });

  it('should trust no record: the scheduled full verify runs every time and a routine verify covers everything', async () => {
    expect(await ctx.chain.scheduledFullVerify()).toMatchObject({ status: 'intact', mode: 'full' });
    const [recorded] = await ctx.ds.query<{ details: Record<string, unknown> }[]>(
      `SELECT details FROM audit_events WHERE type = 'audit.verified'`,
    );
    expect(recorded.details).not.toHaveProperty('proof');
    expect(await ctx.audit.lastFullVerify()).toMatchObject({ status: 'intact', trusted: false });
    expect(await ctx.chain.scheduledFullVerify()).toMatchObject({ status: 'intact', mode: 'full' });
    await ctx.audit.sealNow();
    expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({ status: 'intact', since: '1' });
  });
});
