import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { recordLogins, startAuditApp, type AuditApp } from '@test/support/audit-app.js';
import { GENESIS_HASH } from './audit-chain.js';
import { signingKeyFromText } from './audit-signing-key.js';
import { checkpointHash, signCheckpoint, unverifiedPayload, type AuditCheckpoint } from './audit-verifier.js';
import { passedOverGaps } from './audit-checkpoint-verify.js';
import { verifyExportFiles } from './audit-offline-verify.js';

/**
 * Junk appended at the end of the checkpoint chain by whoever holds the runtime role (the database
 * accepts a checkpoint only after the newest one, but cannot check its signature): the broker
 * records it once as an alarm and its next checkpoint passes over it, so the checkpoints go on;
 * verify keeps reporting the junk, as one problem however many rows it is.
 */
const EVERY = 5;

function checkpoints(b: AuditApp): Promise<AuditCheckpoint[]> {
  return b.ds.query<AuditCheckpoint[]>(
    `SELECT c.first_seq::text, c.last_seq::text, c.last_hash, c.prev_checkpoint_hash, c.event_count::text, c.kid, c.jws
       FROM audit_checkpoints c ORDER BY c.last_seq`,
  );
}

/** What the runtime role can do: append a row after the newest checkpoint (as broker_app). */
async function appendJunk(b: AuditApp, lastSeq: string, jws = 'junk', kid = 'junk'): Promise<AuditCheckpoint> {
  const all = await checkpoints(b);
  const newest = all[all.length - 1];
  const first = newest ? (BigInt(newest.last_seq) + 1n).toString() : '1';
  await b.ds.query(
    `INSERT INTO audit_checkpoints (first_seq, last_seq, last_hash, prev_checkpoint_hash, event_count, kid, jws)
     VALUES ($1, $2, repeat('a', 64), $3, 1, $4, $5)`,
    [first, lastSeq, newest ? checkpointHash(newest.jws) : GENESIS_HASH, kid, jws],
  );
  return (await checkpoints(b)).pop() as AuditCheckpoint;
}

/** Records `n` logins and seals them, without a checkpoint round (recordLogins ends with one). */
async function sealLogins(b: AuditApp, n: number, from: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await b.audit.record({ type: 'login.succeeded', outcome: 'success', actor: `developer:${i}`, requestId: `r${i}` });
  }
  await b.audit.sealNow();
}

function alarms(b: AuditApp): Promise<Array<{ reason: string; details: Record<string, unknown> }>> {
  return b.ds.query(`SELECT reason, details FROM audit_events WHERE type = 'audit.checkpoint_passed_over' ORDER BY id`);
}

function problems(result: Awaited<ReturnType<AuditApp['audit']['verify']>>): string[] {
  return result.status === 'broken' ? result.problems.map((p) => p.detail) : [];
}

describe('untrusted checkpoints appended at the end are passed over (real Postgres)', () => {
  let db: TestDatabase;
  let broker: AuditApp | null = null;
  let error: jest.SpiedFunction<Logger['error']>;

  beforeEach(async () => {
    db = await createTestDatabase('cppass');
    broker = await startAuditApp(db, { every: EVERY });
    await recordLogins(broker.audit, 30);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    error.mockRestore();
    await broker?.app.close();
    await db.drop();
  });

  it('should refuse a checkpoint that ends after the chain head (a seq in the future)', async () => {
    const b = broker as AuditApp;
    const [{ me }] = await b.ds.query<{ me: string }[]>(`SELECT current_user AS me`);
    expect(me).toBe('broker_app');
    await expect(appendJunk(b, '31')).rejects.toThrow(/ends at or before the chain head \(seq 30\), not at seq 31/);
    await expect(appendJunk(b, '9000000000000000000')).rejects.toThrow(/ends at or before the chain head/);
    // The normal round is unaffected (31 is the first round's audit.checkpoints_started).
    await recordLogins(b.audit, 5, 31);
    expect((await checkpoints(b)).map((c) => c.last_seq)).toEqual(['5', '10', '15', '20', '25', '30', '35', '36']);
    expect(await b.audit.checkpointState()).toBeNull();
    expect(await b.audit.verify()).toMatchObject({ status: 'intact' });
  });

  it('should record junk at the end once, keep checkpointing past it, and verify should keep reporting it', async () => {
    const b = broker as AuditApp;
    // 31 (the first round's audit.checkpoints_started), 32 and 33 sealed, not signed yet.
    await sealLogins(b, 2, 31);
    const genuine = await checkpoints(b);
    expect(genuine.map((c) => c.last_seq)).toEqual(['5', '10', '15', '20', '25', '30']);
    // Another instance sharing the checkpoint folder knows the checkpoint up to 30 as genuine.
    const other = await startAuditApp(db, { every: EVERY, dir: b.dir });
    const junk = await appendJunk(b, '33');

    // The round that finds it: the alarm (34) is written, nothing is signed (the junk ends at the head).
    await b.audit.checkpointNow();
    expect(await checkpoints(b)).toHaveLength(7);
    expect(await alarms(b)).toEqual([
      {
        reason: 'checkpoint_untrusted',
        details: {
          first_seq: '31',
          last_seq: '33',
          count: 1,
          kid: 'junk',
          problem: 'is not a signed checkpoint (no JWS)',
          after_seq: '30',
        },
      },
    ]);
    expect(error.mock.calls.map(([m]) => String(m))).toEqual([
      expect.stringMatching(/^audit checkpoints: 1 checkpoint\(s\) at the end \(seq 31\.\.33\) are not signed/),
    ]);
    // The next round signs past it, and every round after that goes on as usual.
    await recordLogins(b.audit, 1, 33);
    let all = await checkpoints(b);
    expect(all.map((c) => [c.first_seq, c.last_seq])).toEqual([
      ...genuine.map((c) => [c.first_seq, c.last_seq]),
      ['31', '33'],
      ['34', '35'],
    ]);
    const past = all[7];
    // In the table it continues the junk row (the database's rule); what it vouches for is the
    // genuine checkpoint up to 30.
    expect(past.prev_checkpoint_hash).toBe(checkpointHash(junk.jws));
    expect(unverifiedPayload(past.jws)?.passes_over).toEqual({
      after_hash: checkpointHash(genuine[5].jws),
      after_seq: '30',
      first_seq: '31',
      last_seq: '33',
      count: '1',
    });
    // It takes the checkpoint past the junk for one descending from its own (through passes_over),
    // not for a fork.
    try {
      await other.audit.checkpointNow();
      expect(await other.audit.checkpointState()).toBeNull();
      await recordLogins(other.audit, 5, 34);
    } finally {
      await other.app.close();
    }
    await recordLogins(b.audit, 5, 39);
    await b.audit.checkpointNow();
    all = await checkpoints(b);
    expect(all.map((c) => c.last_seq).slice(8)).toEqual(['40', '45']);
    // Said once, not at every round.
    expect(await alarms(b)).toHaveLength(1);
    expect(error).toHaveBeenCalledTimes(1);
    expect(await b.audit.checkpointState()).toMatchObject({
      checkpoints: 'passed_over',
      checkpointsPassedOver: { first_seq: '31', last_seq: '33', count: 1 },
    });
    // Verify names the junk (not the genuine checkpoints around it), in both modes.
    const reported = [
      '1 checkpoint(s) 31..33 are not signed with a trusted key (junk appended at the end); checkpoint 34..35 passed over them',
    ];
    for (const mode of ['full', 'routine'] as const) {
      const result = await b.audit.verify({ mode });
      expect(result).toMatchObject({ status: 'broken', firstBadSeq: '31', problem: 'checkpoint_signature_invalid' });
      expect(problems(result)).toEqual(reported);
    }
    // A process that knows no checkpoint (no folder) reaches the same verdict and signs on.
    const fresh = await startAuditApp(db, { every: EVERY, dir: b.dir, env: { BROKER_AUDIT_CHECKPOINT_DIR: '' } });
    try {
      expect(problems(await fresh.audit.verify())).toEqual(reported);
      await recordLogins(fresh.audit, 5, 44);
      expect((await checkpoints(fresh)).pop()?.last_seq).toBe('50');
      expect(await fresh.audit.checkpointState()).toBeNull();
    } finally {
      await fresh.app.close();
    }
    // Offline verify (the export, the saved keys and checkpoints) agrees.
    const keysFile = path.join(b.dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify(await b.audit.signingKeys()));
    const checkpointsFile = path.join(b.dir, 'cps.json');
    writeFileSync(checkpointsFile, JSON.stringify((await b.audit.checkpoints({ limit: '1000' })).data));
    const exportFile = path.join(b.dir, 'export.ndjson');
    await pipeline(await b.audit.exportEvents({}, 'ndjson'), createWriteStream(exportFile));
    const offline = await verifyExportFiles({ exportFile, keysFile, checkpointsFile });
    expect(offline).toMatchObject({ status: 'broken', firstBadSeq: '31' });
    expect(offline.problems?.map((p) => p.detail)).toEqual(reported);
  });

  it('should pass over several junk rows, forged under its own key id or under an unknown key, as one', async () => {
    const b = broker as AuditApp;
    await recordLogins(b.audit, 5, 31); // checkpoints 31..35 and 36..36
    await sealLogins(b, 3, 36); // 37..39
    const genuine = await checkpoints(b);
    const [h, p] = genuine[7].jws.split('.');
    await appendJunk(b, '37', `${h}.${p}.${Buffer.from('forged').toString('base64url')}`, genuine[7].kid);
    const other = await signingKeyFromText(
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    const signed = await signCheckpoint(
      {
        v: 1,
        first_seq: '38',
        last_seq: '39',
        last_hash: 'a'.repeat(64),
        prev_checkpoint_hash: checkpointHash((await checkpoints(b))[8].jws),
        count: '2',
        time: new Date().toISOString(),
        kid: other.kid,
      },
      other,
    );
    await appendJunk(b, '39', signed, other.kid);
    await recordLogins(b.audit, 2, 39); // 40, 41
    const all = await checkpoints(b);
    expect(all.map((c) => c.last_seq)).toEqual(['5', '10', '15', '20', '25', '30', '35', '36', '37', '39', '41']);
    expect(unverifiedPayload(all[10].jws)?.passes_over).toMatchObject({ after_seq: '36', first_seq: '37', count: '2' });
    expect((await alarms(b)).map((a) => a.details)).toEqual([
      expect.objectContaining({ first_seq: '37', last_seq: '39', count: 2, kid: other.kid, after_seq: '36' }),
    ]);
    for (const mode of ['full', 'routine'] as const) {
      expect(problems(await b.audit.verify({ mode }))).toEqual([
        '2 checkpoint(s) 37..39 are not signed with a trusted key (junk appended at the end); checkpoint 40..41 passed over them',
      ]);
    }
  });

  it('should not let a junk row that claims to pass over a genuine checkpoint drop it from verify', async () => {
    const b = broker as AuditApp;
    await sealLogins(b, 2, 31); // 31..33
    const genuine = await checkpoints(b);
    // A row that says it passes over the genuine checkpoint 26..30 (in the runtime role's hands the
    // payload says anything); signed with a key of its own, as anyone can.
    const evil = await signingKeyFromText(
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    const payload = {
      v: 1 as const,
      first_seq: '31',
      last_seq: '33',
      last_hash: 'b'.repeat(64),
      prev_checkpoint_hash: checkpointHash(genuine[5].jws),
      count: '3',
      time: new Date().toISOString(),
      kid: evil.kid,
      passes_over: {
        after_hash: checkpointHash(genuine[4].jws),
        after_seq: '25',
        first_seq: '26',
        last_seq: '30',
        count: '1',
      },
    };
    await b.ds.query(
      `INSERT INTO audit_checkpoints (first_seq, last_seq, last_hash, prev_checkpoint_hash, event_count, kid, jws)
       VALUES ('31', '33', $1, $2, 3, $3, $4)`,
      [payload.last_hash, payload.prev_checkpoint_hash, evil.kid, await signCheckpoint(payload, evil)],
    );
    await b.ds.query(`INSERT INTO audit_signing_keys (kid, jwk) VALUES ($1, $2)`, [
      evil.kid,
      JSON.stringify(evil.publicJwk),
    ]);
    // Before the broker passes over it, verify does not take its claim either: it names the row as
    // the untrusted newest one, and the genuine 26..30 is not said to be junk.
    for (const mode of ['full', 'routine'] as const) {
      expect(problems(await b.audit.verify({ mode }))).toEqual([
        `the newest checkpoint 31..33 is signed with key ${evil.kid}, which this broker neither holds nor trusts (BROKER_AUDIT_TRUSTED_KEYS_FILE)`,
        'events 31..33 no longer match their signed checkpoint (rewritten and re-chained)',
      ]);
    }
    await b.audit.checkpointNow(); // the alarm (34)
    await recordLogins(b.audit, 1, 33); // 35
    expect((await checkpoints(b)).map((c) => c.last_seq)).toEqual(['5', '10', '15', '20', '25', '30', '33', '35']);
    // Followed back from the newest checkpoint, only the broker's own claim counts: it passes over
    // the junk row, and the genuine 26..30 stays on the way (its last hash still compared).
    const all = await checkpoints(b);
    expect(passedOverGaps(all)).toEqual(new Map([[7, 6]]));
    for (const mode of ['full', 'routine'] as const) {
      expect(problems(await b.audit.verify({ mode }))).toEqual([
        '1 checkpoint(s) 31..33 are not signed with a trusted key (junk appended at the end); checkpoint 34..35 passed over them',
      ]);
    }
  });
});
