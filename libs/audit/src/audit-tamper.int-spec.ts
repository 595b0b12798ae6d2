import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { compromiseDatabase, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { startAuditApp, recordLogins } from '@test/support/audit-app.js';
import { listenLikeBroker } from '@test/support/lib-app.js';
import { chainHash } from './audit-chain.js';
import { verifyExportFiles } from './audit-offline-verify.js';
import { RECORD_COLUMNS, type AuditEventRecord } from './audit-record.js';
import type { AuditCheckpoint } from './audit-verifier.js';
import { AuditService } from './audit.service.js';

/**
 * Issue 14: a full database compromise (the superuser) rewrites the log as well as it can; the
 * signed checkpoints (key outside the database) let verify, online and offline, name what broke.
 */
interface Ctx {
  db: TestDatabase;
  app: INestApplication;
  audit: AuditService;
  ds: DataSource;
  dir: string;
}

const EVERY = 5;

async function boot(): Promise<Ctx> {
  const db = await createTestDatabase('tamper');
  const started = await startAuditApp(db, { every: EVERY });
  await recordLogins(started.audit, 30);
  return { db, ...started };
}

/** What an auditor keeps: the checkpoints and keys (fetched first), then the export. */
async function exportFiles(ctx: Ctx): Promise<{ exportFile: string; keysFile: string; checkpointsFile: string }> {
  const checkpoints: AuditCheckpoint[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.audit.checkpoints({ limit: '2', cursor });
    checkpoints.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  const keysFile = path.join(ctx.dir, 'keys.json');
  const checkpointsFile = path.join(ctx.dir, 'checkpoints.json');
  const exportFile = path.join(ctx.dir, 'export.ndjson');
  writeFileSync(keysFile, JSON.stringify(await ctx.audit.signingKeys()));
  writeFileSync(checkpointsFile, JSON.stringify(checkpoints));
  await pipeline(await ctx.audit.exportEvents({}, 'ndjson'), createWriteStream(exportFile));
  return { exportFile, keysFile, checkpointsFile };
}

/** As the superuser with every trigger off. */
function compromise(ctx: Ctx, ...sql: string[]): Promise<void> {
  return compromiseDatabase(ctx.db, ...sql);
}

describe('audit log against a full database compromise (real Postgres)', () => {
  let ctx: Ctx;

  beforeEach(async () => {
    ctx = await boot();
  });

  afterEach(async () => {
    await ctx?.app.close();
    await ctx?.db.drop();
  });

  it('should sign a checkpoint per 5 events, publish them paged with the keys, and verify intact online and offline', async () => {
    const page = await ctx.audit.checkpoints({ limit: '2' });
    expect(page.data.map((c) => [c.first_seq, c.last_seq])).toEqual([
      ['26', '30'],
      ['21', '25'],
    ]);
    expect(page.next_cursor).toEqual(expect.any(String));
    const { keys } = await ctx.audit.signingKeys();
    expect(keys).toEqual([
      expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: page.data[0].kid }),
    ]);
    expect(keys[0]).not.toHaveProperty('d');
    expect(readFileSync(path.join(ctx.dir, 'checkpoints', 'checkpoint-0000000000000000030.json'), 'utf8')).toContain(
      page.data[0].jws,
    );
    const online = await ctx.audit.verify();
    expect(online).toMatchObject({ status: 'intact', count: 30, checkpoints: 6, lastSeq: '30' });
    const head = online.status === 'intact' ? online.lastHash : null;
    expect(await ctx.audit.verify({ expectedHead: head })).toMatchObject({ status: 'intact' });
    const files = await exportFiles(ctx);
    expect(await verifyExportFiles({ ...files, expectedHead: head })).toMatchObject({
      status: 'intact',
      count: 30,
      checkpoints: 6,
      lastHash: head,
    });
    // Over HTTP too.
    const url = await listenLikeBroker(ctx.app, { validation_failed: 400 });
    const res = await fetch(`${url}/api/audit/keys`);
    expect(((await res.json()) as { keys: unknown[] }).keys).toHaveLength(1);
    const cps = await fetch(`${url}/api/audit/checkpoints?limit=1`);
    expect(((await cps.json()) as { data: AuditCheckpoint[] }).data[0].last_seq).toBe('30');
  });

  it('should name the first bad checkpoint range when one event is changed and every later row re-chained', async () => {
    const before = await ctx.audit.verify();
    const keptHead = before.status === 'intact' ? before.lastHash : null;
    const rows = await ctx.ds.query<AuditEventRecord[]>(
      `SELECT ${RECORD_COLUMNS} FROM audit_events e WHERE e.seq >= 13 ORDER BY e.seq`,
    );
    const [{ prev }] = await ctx.ds.query<{ prev: string }[]>(`SELECT hash AS prev FROM audit_events WHERE seq = 12`);
    let prevHash = prev;
    const sql: string[] = [];
    for (const row of rows) {
      if (row.seq === '13') row.actor = 'developer:someone-else';
      const hash = chainHash(prevHash, row);
      sql.push(
        `UPDATE audit_events SET actor = '${row.actor}', prev_hash = '${prevHash}', hash = '${hash}' WHERE id = ${row.id}`,
      );
      prevHash = hash;
    }
    sql.push(`UPDATE audit_chain_head SET last_hash = '${prevHash}'`);
    await compromise(ctx, ...sql);

    const online = await ctx.audit.verify();
    expect(online).toMatchObject({ status: 'broken', firstBadSeq: '11', problem: 'hash_mismatch' });
    expect(online.status === 'broken' && online.problems[0].detail).toMatch(/11\.\.15 no longer match/);
    expect(await ctx.audit.verify({ expectedHead: keptHead })).toMatchObject({
      status: 'broken',
      problems: expect.arrayContaining([expect.objectContaining({ kind: 'head_mismatch' })]),
    });
    const offline = await verifyExportFiles(await exportFiles(ctx));
    expect(offline).toMatchObject({ status: 'broken', firstBadSeq: '11', problem: 'hash_mismatch' });
  });

  it('should report deleting the oldest events behind a matching anchor as anchor_unexplained, online and offline', async () => {
    const [{ hash }] = await ctx.ds.query<{ hash: string }[]>(`SELECT hash FROM audit_events WHERE seq = 5`);
    await compromise(
      ctx,
      `DELETE FROM audit_events WHERE seq <= 5`,
      `INSERT INTO audit_chain_anchors (first_seq, prev_hash, removed_count, last_removed_id, cutoff)
       VALUES (6, '${hash}', 5, 5, now())`,
    );
    expect(await ctx.audit.verify()).toMatchObject({
      status: 'broken',
      firstBadSeq: '6',
      problem: 'anchor_unexplained',
    });
    const offline = await verifyExportFiles(await exportFiles(ctx));
    expect(offline).toMatchObject({ status: 'broken', firstBadSeq: '6', problem: 'anchor_unexplained' });
  });

  it('should report removing the newest events and moving the head back as head_mismatch', async () => {
    const [{ hash, id }] = await ctx.ds.query<{ hash: string; id: string }[]>(
      `SELECT hash, id::text AS id FROM audit_events WHERE seq = 27`,
    );
    await compromise(
      ctx,
      `DELETE FROM audit_events WHERE seq > 27`,
      `UPDATE audit_chain_head SET last_seq = 27, last_id = ${id}, last_hash = '${hash}'`,
    );
    expect(await ctx.audit.verify()).toMatchObject({ status: 'broken', firstBadSeq: '28', problem: 'head_mismatch' });
  });

  it('should report a checkpoint changed in the database as checkpoint_signature_invalid, in full and routine mode', async () => {
    await compromise(ctx, `UPDATE audit_checkpoints SET last_hash = repeat('a', 64) WHERE last_seq = 10`);
    for (const mode of ['full', 'routine'] as const) {
      expect(await ctx.audit.verify({ mode })).toMatchObject({
        status: 'broken',
        firstBadSeq: '6',
        problem: 'checkpoint_signature_invalid',
      });
    }
  });

  it('should report an older checkpoint re-signed in place (JWS replaced) in routine mode too, through the hash chain', async () => {
    // A payload that matches a changed row, "signed" with garbage: only the chain of hashes catches it in routine mode.
    const [cp] = await ctx.ds.query<{ jws: string }[]>(`SELECT jws FROM audit_checkpoints WHERE last_seq = 10`);
    const [h, p] = cp.jws.split('.');
    const forged = `${h}.${p}.${Buffer.from('forged').toString('base64url')}`;
    await compromise(ctx, `UPDATE audit_checkpoints SET jws = '${forged}' WHERE last_seq = 10`);
    expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({
      status: 'broken',
      problem: 'checkpoint_signature_invalid',
      firstBadSeq: '11',
    });
    expect(await ctx.audit.verify()).toMatchObject({ status: 'broken', firstBadSeq: '6' });
  });

  it('should verify routinely only what was added since the last recorded full verify, plus sampled older ranges', async () => {
    const fullResult = await ctx.audit.verify({}, { recordAs: 'system' });
    expect(fullResult).toMatchObject({ status: 'intact', mode: 'full', count: 30 });
    const [recorded] = await ctx.ds.query<{ details: Record<string, unknown>; outcome: string }[]>(
      `SELECT details, outcome FROM audit_events WHERE type = 'audit.verified'`,
    );
    expect(recorded).toMatchObject({ outcome: 'success', details: { mode: 'full', status: 'intact', last_seq: '30' } });
    for (let i = 0; i < 4; i++) await ctx.audit.record({ type: 'logout', outcome: 'success', requestId: `late-${i}` });
    await ctx.audit.checkpointNow();
    const routine = await ctx.audit.verify({ mode: 'routine' });
    // seq 31 is the first checkpoint run's audit.checkpoints_started, 32 the audit.verified event
    // itself, then the four logouts; plus three sampled ranges of five.
    expect(routine).toMatchObject({ status: 'intact', mode: 'routine', since: '31', count: 6 + 3 * EVERY });
    expect(routine.sampled).toHaveLength(3);
    // A change after the last full verify is found by the routine verify.
    const [row] = await ctx.ds.query<{ id: string }[]>(`SELECT id::text AS id FROM audit_events WHERE seq = 33`);
    await compromise(ctx, `UPDATE audit_events SET request_id = 'forged' WHERE id = ${row.id}`);
    expect(await ctx.audit.verify({ mode: 'routine' })).toMatchObject({
      status: 'broken',
      mode: 'routine',
      firstBadSeq: '33',
      problem: 'hash_mismatch',
    });
  });

  it('should report one flipped byte of an export offline', async () => {
    const files = await exportFiles(ctx);
    const bytes = readFileSync(files.exportFile);
    const at = bytes.indexOf('developer:17');
    bytes[at + 10] = '8'.charCodeAt(0);
    writeFileSync(files.exportFile, bytes);
    const result = await verifyExportFiles(files);
    expect(result).toMatchObject({ status: 'broken', problem: 'hash_mismatch' });
    const [{ seq }] = await ctx.ds.query<{ seq: string }[]>(
      `SELECT seq::text AS seq FROM audit_events WHERE actor = 'developer:17'`,
    );
    expect(result.firstBadSeq).toBe(seq);
  });
});
