import { generateKeyPairSync } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import pg from 'pg';
import { compromiseDatabase, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { recordLogins, startAuditApp, type AuditApp } from '@test/support/audit-app.js';
import { listenLikeBroker } from '@test/support/lib-app.js';
import { GENESIS_HASH, chainHash } from './audit-chain.js';
import { RECORD_COLUMNS, type AuditEventRecord } from './audit-record.js';
import { signingKeyFromText, type AuditSigningKey } from './audit-signing-key.js';
import { checkpointHash, signCheckpoint, type AuditCheckpoint } from './audit-verifier.js';
import {
  AuditCheckpointsService,
  type AuditSigningKeys,
  type CheckpointRefusal,
  type CheckpointsOverdue,
} from './audit-checkpoints.service.js';
import { verifyExportFiles } from './audit-offline-verify.js';

/**
 * The newest signed checkpoint vouches for every older one, so the broker trusts it only when it
 * is signed with the key in hand or a key named in BROKER_AUDIT_TRUSTED_KEYS_FILE, never with a key
 * that is merely listed in audit_signing_keys (whoever can write the database can add one there).
 */
const EVERY = 5;

type Broker = AuditApp;

function startBroker(db: TestDatabase, env: Record<string, string> = {}, dir?: string): Promise<Broker> {
  return startAuditApp(db, { env, dir, every: EVERY });
}

/** Why this broker stopped signing checkpoints, as /health/ready shows it; null when it did not. */
async function refusal(b: Broker): Promise<CheckpointRefusal | null> {
  const state = await b.audit.checkpointState();
  return state?.checkpoints === 'stopped' ? state.checkpointProblem : null;
}

/** How long sealed events have waited for a checkpoint, as /health/ready shows it; null when not overdue. */
async function overdue(b: Broker): Promise<CheckpointsOverdue | null> {
  const state = await b.audit.checkpointState();
  return state?.checkpoints === 'overdue' ? state.checkpointsOverdue : null;
}

function record(b: Broker, n: number, from = 1): Promise<void> {
  return recordLogins(b.audit, n, from);
}

async function newKey(): Promise<AuditSigningKey> {
  return signingKeyFromText(
    generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  );
}

function checkpoints(b: Broker): Promise<AuditCheckpoint[]> {
  return b.ds.query<AuditCheckpoint[]>(
    `SELECT c.first_seq::text, c.last_seq::text, c.last_hash, c.prev_checkpoint_hash, c.event_count::text, c.kid, c.jws
       FROM audit_checkpoints c ORDER BY c.last_seq`,
  );
}

/**
 * What a database owner does to hide a change to event 13: re-chain every later event, publish a
 * key of their own in audit_signing_keys and re-sign every checkpoint with it.
 */
async function rewriteAndResign(db: TestDatabase, b: Broker, evil: AuditSigningKey): Promise<void> {
  const rows = await b.ds.query<AuditEventRecord[]>(
    `SELECT ${RECORD_COLUMNS} FROM audit_events e WHERE e.seq >= 13 ORDER BY e.seq`,
  );
  const [{ prev }] = await b.ds.query<{ prev: string }[]>(`SELECT hash AS prev FROM audit_events WHERE seq = 12`);
  const hashes = new Map<string, string>();
  const sql: string[] = [];
  let prevHash = prev;
  for (const row of rows) {
    if (row.seq === '13') row.actor = 'developer:someone-else';
    const hash = chainHash(prevHash, row);
    hashes.set(row.seq as string, hash);
    sql.push(
      `UPDATE audit_events SET actor = '${row.actor}', prev_hash = '${prevHash}', hash = '${hash}' WHERE id = ${row.id}`,
    );
    prevHash = hash;
  }
  sql.push(`UPDATE audit_chain_head SET last_hash = '${prevHash}'`);
  let prevCheckpoint = GENESIS_HASH;
  for (const cp of await checkpoints(b)) {
    const lastHash = hashes.get(cp.last_seq) ?? cp.last_hash;
    const jws = await signCheckpoint(
      {
        v: 1,
        first_seq: cp.first_seq,
        last_seq: cp.last_seq,
        last_hash: lastHash,
        prev_checkpoint_hash: prevCheckpoint,
        count: cp.event_count,
        time: new Date().toISOString(),
        kid: evil.kid,
      },
      evil,
    );
    sql.push(
      `UPDATE audit_checkpoints SET last_hash = '${lastHash}', prev_checkpoint_hash = '${prevCheckpoint}', kid = '${evil.kid}', jws = '${jws}' WHERE last_seq = ${cp.last_seq}`,
    );
    prevCheckpoint = checkpointHash(jws);
  }
  sql.push(
    `INSERT INTO audit_signing_keys (kid, jwk) VALUES ('${evil.kid}', '${JSON.stringify(evil.publicJwk)}') ON CONFLICT (kid) DO NOTHING`,
  );
  await compromiseDatabase(db, ...sql);
}

async function untrustedEvents(b: Broker): Promise<Array<{ reason: string; details: Record<string, unknown> }>> {
  return b.ds.query(`SELECT reason, details FROM audit_events WHERE type = 'audit.checkpoint_untrusted' ORDER BY id`);
}

describe('which keys the broker trusts for the audit checkpoints (real Postgres)', () => {
  let db: TestDatabase;
  let broker: Broker | null = null;
  let error: jest.SpiedFunction<Logger['error']>;

  beforeEach(async () => {
    db = await createTestDatabase('cptrust');
    broker = await startBroker(db);
    await record(broker, 30);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    error.mockRestore();
    await broker?.app.close();
    await db.drop();
  });

  it('should report checkpoints re-signed with a key the owner added to audit_signing_keys, and sign nothing on top of them', async () => {
    const b = broker as Broker;
    expect(await b.audit.verify()).toMatchObject({ status: 'intact' });
    const evil = await newKey();
    await rewriteAndResign(db, b, evil);

    // Every published signature verifies and every hash matches: only the key gives it away.
    const untrusted =
      `the newest checkpoint 26..30 is signed with key ${evil.kid}, which this broker neither holds nor trusts ` +
      '(BROKER_AUDIT_TRUSTED_KEYS_FILE)';
    for (const mode of ['full', 'routine'] as const) {
      const result = await b.audit.verify({ mode });
      expect(result).toMatchObject({ status: 'broken', firstBadSeq: '26', problem: 'checkpoint_signature_invalid' });
      expect(result.status === 'broken' && result.problems.map((p) => p.detail)).toEqual([untrusted]);
    }
    // A process that knows no checkpoint of its own (another instance, without a checkpoint folder)
    // reaches the same verdict from the key alone.
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let warnings: string[] = [];
    const fresh = await startBroker(db, { BROKER_AUDIT_CHECKPOINT_DIR: '' }, b.dir).finally(() => {
      warnings = warn.mock.calls.map(([m]) => String(m));
      warn.mockRestore();
    });
    // It says at start that it cannot see a cut-back.
    expect(warnings.filter((m) => m.startsWith('audit checkpoints:'))).toEqual([
      expect.stringMatching(
        /^audit checkpoints: the database holds checkpoints up to seq 30, but BROKER_AUDIT_CHECKPOINT_DIR is not set: this instance cannot tell whether checkpoints were removed from the end/,
      ),
    ]);
    try {
      const result = await fresh.audit.verify();
      expect(result.status === 'broken' && result.problems.map((p) => p.detail)).toEqual([untrusted]);
    } finally {
      await fresh.app.close();
    }

    // The broker does not launder the forged chain with a checkpoint of its own.
    await record(b, 5, 31);
    expect(await checkpoints(b)).toHaveLength(6);
    expect(await refusal(b)).toEqual({
      first_seq: '26',
      last_seq: '30',
      kid: evil.kid,
      reason: expect.stringMatching(/neither holds nor trusts \(BROKER_AUDIT_TRUSTED_KEYS_FILE\)/),
    });
    await record(b, 5, 36);
    await b.audit.sealNow();
    // Said once (log and a High event for the SIEM), not at every tick.
    expect(await untrustedEvents(b)).toEqual([
      { reason: 'checkpoint_untrusted', details: expect.objectContaining({ last_seq: '30', kid: evil.kid }) },
    ]);
    const errors = error.mock.calls.map(([m]) => String(m)).filter((m) => m.startsWith('audit checkpoints stopped'));
    expect(errors).toEqual([expect.stringContaining('BROKER_AUDIT_TRUSTED_KEYS_FILE')]);
  });

  it('should refuse a checkpoint the runtime role inserts anywhere but after the newest one', async () => {
    const b = broker as Broker;
    const [{ me }] = await b.ds.query<{ me: string }[]>(`SELECT current_user AS me`);
    expect(me).toBe('broker_app');
    const all = await checkpoints(b);
    expect(all.map((c) => c.last_seq)).toEqual(['5', '10', '15', '20', '25', '30']);
    const insert = (first: string, last: string, prev: string) =>
      b.ds.query(
        `INSERT INTO audit_checkpoints (first_seq, last_seq, last_hash, prev_checkpoint_hash, event_count, kid, jws)
         VALUES ($1, $2, repeat('a', 64), $3, 1, 'junk', 'junk')`,
        [first, last, prev],
      );
    const refused = /appended after the newest one/;
    // Between two genuine checkpoints: every verify after it would report two broken checkpoints.
    await expect(insert('6', '7', checkpointHash(all[0].jws))).rejects.toThrow(refused);
    await expect(insert('31', '31', checkpointHash(all[4].jws))).rejects.toThrow(refused);
    await expect(insert('31', '31', GENESIS_HASH)).rejects.toThrow(refused);
    await expect(insert('32', '33', checkpointHash(all[5].jws))).rejects.toThrow(refused);
    expect(await checkpoints(b)).toEqual(all);
    expect(await b.audit.verify()).toMatchObject({ status: 'intact' });
    // Not past the chain head (30 sealed so far).
    await expect(insert('31', '31', checkpointHash(all[5].jws))).rejects.toThrow(/ends at or before the chain head/);
    // At the end it is accepted (the database cannot check a signature): the broker's next
    // checkpoint passes over it (audit-checkpoint-pass-over.int-spec.ts) and verify names it.
    await b.audit.sealNow();
    await insert('31', '31', checkpointHash(all[5].jws));
    await record(b, 5, 31);
    expect(await refusal(b)).toBeNull();
    expect((await checkpoints(b)).map((c) => c.last_seq).slice(5)).toEqual(['30', '31', '36']);
    expect(await b.audit.verify()).toMatchObject({ status: 'broken', firstBadSeq: '31' });
  });

  it('should not chain onto a newest checkpoint with a forged signature under its own key id', async () => {
    const b = broker as Broker;
    const [h, p] = (await checkpoints(b))[5].jws.split('.');
    await compromiseDatabase(
      db,
      `UPDATE audit_checkpoints SET jws = '${h}.${p}.${Buffer.from('forged').toString('base64url')}' WHERE last_seq = 30`,
    );
    // A new process: nothing in memory to compare with, only the signature.
    await b.app.close();
    broker = await startBroker(db, {}, b.dir);
    await record(broker, 5, 31);
    expect(await checkpoints(broker)).toHaveLength(6);
    expect(await refusal(broker)).toMatchObject({ last_seq: '30', reason: /does not verify against key/ });
    // Verify says it once: the signature check of every checkpoint already covers the newest.
    const result = await broker.audit.verify();
    expect(result.status === 'broken' && result.problems.map((p) => p.detail)).toEqual([
      expect.stringMatching(/^checkpoint 26\.\.30: the signature does not verify/),
    ]);
  });

  it('should pass over a newest checkpoint that is not a JWS at all, knowing no copy of its own, and report it once in verify', async () => {
    const b = broker as Broker;
    await compromiseDatabase(db, `UPDATE audit_checkpoints SET jws = 'not a jws' WHERE last_seq = 30`);
    await b.app.close();
    // Without a copy of its own, a process cannot tell this from junk appended at the end: it
    // vouches for the trusted checkpoint before it (25) and passes over it; verify names it forever.
    broker = await startBroker(db, { BROKER_AUDIT_CHECKPOINT_DIR: '' }, b.dir);
    await record(broker, 5, 31);
    expect((await checkpoints(broker)).map((c) => c.last_seq).slice(4)).toEqual(['25', '30', '36']);
    expect(await refusal(broker)).toBeNull();
    const result = await broker.audit.verify();
    expect(result.status === 'broken' && result.problems.map((p) => p.detail)).toEqual([
      '1 checkpoint(s) 26..30 are not signed with a trusted key (junk appended at the end); checkpoint 31..36 passed over them',
    ]);
  });

  it('should notice checkpoints removed from the end, or all of them, while it runs, in verify too', async () => {
    const b = broker as Broker;
    // Events after the last checkpoint are not signed: without the newer checkpoints, 21..30 could
    // be rewritten and re-chained unnoticed.
    await compromiseDatabase(db, `DELETE FROM audit_checkpoints WHERE last_seq > 20`);
    for (const mode of ['full', 'routine'] as const) {
      expect(await b.audit.verify({ mode })).toMatchObject({
        status: 'broken',
        firstBadSeq: '21',
        problem: 'checkpoint_signature_invalid',
        problems: [
          expect.objectContaining({
            detail:
              'the newest checkpoint 16..20 ends before seq 30, which this broker signed or checked: checkpoints were removed',
          }),
        ],
      });
    }
    await record(b, 5, 31);
    expect(await checkpoints(b)).toHaveLength(4);
    expect(await refusal(b)).toMatchObject({
      last_seq: '20',
      reason: 'ends before seq 30, which this broker signed or checked: checkpoints were removed',
    });
    await compromiseDatabase(db, `DELETE FROM audit_checkpoints`);
    await record(b, 1, 36);
    expect(await checkpoints(b)).toEqual([]);
    expect(await refusal(b)).toMatchObject({ last_seq: null, reason: /no checkpoint is left/ });
    expect(await b.audit.verify()).toMatchObject({
      status: 'broken',
      firstBadSeq: '1',
      problems: [
        expect.objectContaining({
          detail:
            'the newest checkpoint is gone: no checkpoint is left, but this broker signed or checked one up to seq 30; the checkpoints were removed',
        }),
      ],
    });
    expect((await untrustedEvents(b)).map((e) => e.details.last_seq)).toEqual(['20', null]);
  });

  it('should stop after a restart when its checkpoint files reach further than the database', async () => {
    const b = broker as Broker;
    await compromiseDatabase(db, `DELETE FROM audit_checkpoints WHERE last_seq > 10`);
    await b.app.close();
    broker = await startBroker(db, {}, b.dir);
    await record(broker, 5, 31);
    expect(await checkpoints(broker)).toHaveLength(2);
    expect(await refusal(broker)).toMatchObject({ last_seq: '10', reason: /ends before seq 30/ });
    expect(await broker.audit.verify()).toMatchObject({ status: 'broken', firstBadSeq: '11' });
    await compromiseDatabase(db, `DELETE FROM audit_checkpoints`);
    await broker.app.close();
    broker = await startBroker(db, {}, b.dir);
    await broker.audit.checkpointNow();
    expect(await checkpoints(broker)).toEqual([]);
    expect(await refusal(broker)).toMatchObject({ last_seq: null, reason: /up to seq 30/ });
  });

  it('should not take a chain another instance signed after a cut-back for its own, and say so in verify', async () => {
    const a = broker as Broker;
    await compromiseDatabase(db, `DELETE FROM audit_checkpoints WHERE last_seq > 20`);
    // A second instance with the same key but no checkpoint folder knows nothing: it takes the
    // cut-back chain and signs on (every 5 events again, so there is a checkpoint up to seq 30).
    const other = await startBroker(db, { BROKER_AUDIT_CHECKPOINT_DIR: '' }, a.dir);
    try {
      await record(other, 5, 31);
      expect(await refusal(other)).toBeNull();
      const cps = await checkpoints(a);
      expect(cps.map((c) => c.last_seq)).toEqual(['5', '10', '15', '20', '25', '30', '35', '36']);
      // The first instance signed up to seq 30 itself: the row there is not its checkpoint.
      await a.audit.checkpointNow();
      expect(await refusal(a)).toMatchObject({
        last_seq: '36',
        reason: /does not descend from the checkpoint up to seq 30 that this broker signed or checked/,
      });
      expect(await a.audit.verify()).toMatchObject({
        status: 'broken',
        problems: expect.arrayContaining([
          expect.objectContaining({
            seq: '30',
            detail: expect.stringMatching(
              /^the newest checkpoint 36\.\.36 does not descend from the checkpoint up to seq 30 that this broker signed or checked/,
            ),
          }),
        ]),
      });
    } finally {
      await other.app.close();
    }
  });

  it('should resume, and say so, when the newest checkpoint it knows is put back', async () => {
    const b = broker as Broker;
    const [original] = (await checkpoints(b)).slice(-1);
    const [h, p] = original.jws.split('.');
    await compromiseDatabase(
      db,
      `UPDATE audit_checkpoints SET jws = '${h}.${p}.${Buffer.from('x').toString('base64url')}' WHERE last_seq = 30`,
    );
    await b.audit.checkpointNow();
    expect(await refusal(b)).toMatchObject({ last_seq: '30', reason: /does not verify/ });
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    try {
      await compromiseDatabase(db, `UPDATE audit_checkpoints SET jws = '${original.jws}' WHERE last_seq = 30`);
      await record(b, 5, 31);
      expect(await refusal(b)).toBeNull();
      expect(log.mock.calls.map(([m]) => String(m))).toContain(
        'audit checkpoints resumed: the newest checkpoint is trusted again',
      );
    } finally {
      log.mockRestore();
    }
    expect(await checkpoints(b)).toHaveLength(8);
    expect(await b.audit.verify()).toMatchObject({ status: 'intact' });
  });

  it('should fall back to an older checkpoint file when the newest is torn, and ignore a key row that is not a JWK', async () => {
    const b = broker as Broker;
    writeFileSync(path.join(b.dir, 'checkpoints', 'checkpoint-0000000000000000030.json'), '{"first_seq": "26", "jw');
    // An endless file where the newest should be: read up to the size of a checkpoint, then skipped.
    symlinkSync('/dev/zero', path.join(b.dir, 'checkpoints', 'checkpoint-0000000000000000099.json'));
    // The runtime role can insert into audit_signing_keys: junk there must not break verify or the JWKS.
    await b.ds.query(`INSERT INTO audit_signing_keys (kid, jwk) VALUES ('junk', 'null'), ('junk2', '"x"')`);
    await compromiseDatabase(db, `DELETE FROM audit_checkpoints WHERE last_seq > 10`);
    await b.app.close();
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      broker = await startBroker(db, {}, b.dir);
      // It knows the checkpoint up to seq 25 from its folder: no warning that it cannot see a cut-back.
      expect(warn.mock.calls.map(([m]) => String(m)).filter((m) => m.startsWith('audit checkpoints:'))).toEqual([]);
      expect(warn.mock.calls.map(([m]) => String(m)).filter((m) => m.startsWith('audit checkpoint file'))).toEqual([
        expect.stringMatching(/checkpoint-0000000000000000099\.json is not a checkpoint signed with a trusted key/),
        expect.stringMatching(/checkpoint-0000000000000000030\.json is not a checkpoint signed with a trusted key/),
      ]);
    } finally {
      warn.mockRestore();
    }
    await broker.audit.checkpointNow();
    expect(await refusal(broker)).toMatchObject({ last_seq: '10', reason: /ends before seq 25/ });
    expect((await broker.audit.signingKeys()).keys).toHaveLength(1);
    expect(await broker.audit.verify()).toMatchObject({ status: 'broken', firstBadSeq: '11' });
  });

  it('should say the checkpoints are overdue when someone holds their lock and sealed events wait', async () => {
    const b = broker as Broker;
    await b.app.close();
    broker = await startBroker(db, { BROKER_AUDIT_CHECKPOINT_INTERVAL_MS: '100' }, b.dir);
    expect(await overdue(broker)).toBeNull();
    // The runtime role can take the advisory lock every instance waits for, and keep it.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtext('broker.audit.checkpoint'))`);
      await record(broker, 3, 31);
      expect(await checkpoints(broker)).toHaveLength(6);
      await new Promise((r) => setTimeout(r, 400));
      expect(await overdue(broker)).toEqual({
        uncoveredAfterSeq: '30',
        waitingSeconds: expect.any(Number),
      });
    } finally {
      await holder.end();
    }
    await broker.audit.checkpointNow();
    expect(await overdue(broker)).toBeNull();
  });

  it('should never overwrite a checkpoint file, even when it signs a replaced chain again', async () => {
    const b = broker as Broker;
    const folder = path.join(b.dir, 'checkpoints');
    const before = readFileSync(path.join(folder, 'checkpoint-0000000000000000030.json'), 'utf8');
    await compromiseDatabase(db, `DELETE FROM audit_checkpoints`, `UPDATE audit_events SET actor = 'x' WHERE seq = 30`);
    await b.app.close();
    // Another key, the old one not trusted: the files cannot be checked, so the chain starts again.
    const keyFile = path.join(b.dir, 'other-key.json');
    writeFileSync(keyFile, JSON.stringify((await newKey()).privateKey.export({ format: 'jwk' })));
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      broker = await startBroker(db, { BROKER_AUDIT_SIGNING_KEY_FILE: keyFile }, b.dir);
      await broker.audit.checkpointNow();
      expect(warn.mock.calls.map(([m]) => String(m))).toContainEqual(
        expect.stringMatching(
          /checkpoint-0000000000000000030\.json is not a checkpoint signed with a trusted key; skipped/,
        ),
      );
    } finally {
      warn.mockRestore();
    }
    // 1..30 again, and 31: the first start's audit.checkpoints_started.
    expect(await checkpoints(broker)).toHaveLength(7);
    expect(readFileSync(path.join(folder, 'checkpoint-0000000000000000030.json'), 'utf8')).toBe(before);
    expect(readdirSync(folder).filter((n) => n.startsWith('checkpoint-'))).toHaveLength(7);
    // Said for the SIEM: the checkpoints start again at seq 1, over events from the first start.
    const started = await broker.ds.query<{ details: Record<string, unknown> }[]>(
      `SELECT details FROM audit_events WHERE type = 'audit.checkpoints_started' ORDER BY id`,
    );
    expect(started.map((e) => e.details.head_seq)).toEqual(['30', '31']);
    expect(started[1].details.oldest_event_at).toBe(started[0].details.oldest_event_at);
    expect(error.mock.calls.map(([m]) => String(m))).toContainEqual(
      expect.stringMatching(/checkpoint-0000000000000000030\.json already holds another checkpoint for seq 30/),
    );
  });

  it('should not serve a key the runtime role published as trusted in GET /api/audit/keys, so a JWKS saved from it catches a history re-signed with that key offline', async () => {
    const b = broker as Broker;
    const ownKid = (await checkpoints(b))[0].kid;
    const evil = await newKey();
    // What anyone with the broker's DATABASE_URL can do (INSERT (kid, jwk) is granted to the runtime role).
    await b.ds.query(`INSERT INTO audit_signing_keys (kid, jwk) VALUES ($1, $2)`, [
      evil.kid,
      JSON.stringify(evil.publicJwk),
    ]);
    const url = await listenLikeBroker(b.app, { validation_failed: 400 });
    const served = (await (await fetch(`${url}/api/audit/keys`)).json()) as AuditSigningKeys;
    expect(served.keys.map((k) => k.kid)).toEqual([ownKid]);
    expect(served.untrusted).toEqual([{ kid: evil.kid, jwk: evil.publicJwk, trusted: false }]);
    expect(served.untrusted_truncated).toBe(false);
    // The README's offline verify: keys.json is that answer, saved. Later the owner role rewrites
    // event 13 and re-signs every checkpoint with the key the runtime role published.
    const keysFile = path.join(b.dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify(served));
    await rewriteAndResign(db, b, evil);
    const checkpointsFile = path.join(b.dir, 'cps.json');
    writeFileSync(checkpointsFile, JSON.stringify((await b.audit.checkpoints({ limit: '1000' })).data));
    const exportFile = path.join(b.dir, 'export.ndjson');
    await pipeline(await b.audit.exportEvents({}, 'ndjson'), createWriteStream(exportFile));
    expect(await verifyExportFiles({ exportFile, keysFile, checkpointsFile })).toMatchObject({
      status: 'broken',
      problem: 'checkpoint_signature_invalid',
    });
  });

  it('should list at most 100 untrusted keys, newest first, and read for verify only the keys the checkpoints name, however many rows the runtime role inserts', async () => {
    const b = broker as Broker;
    const ownKid = (await checkpoints(b))[0].kid;
    await b.ds.query(
      `INSERT INTO audit_signing_keys (kid, jwk)
       SELECT 'flood-' || lpad(i::text, 5, '0'), jsonb_build_object('kty', 'OKP', 'kid', 'flood-' || i) FROM generate_series(1, 5000) i`,
    );
    const [{ newest }] = await b.ds.query<{ newest: string }[]>(
      `INSERT INTO audit_signing_keys (kid, jwk) VALUES ('flood-newest', '{}') RETURNING kid AS newest`,
    );
    const served = await b.audit.signingKeys();
    expect(served.keys.map((k) => k.kid)).toEqual([ownKid]);
    expect(served.untrusted).toHaveLength(100);
    expect(served.untrusted[0].kid).toBe(newest);
    expect(served.untrusted_truncated).toBe(true);
    const keys = await b.app.get(AuditCheckpointsService).verificationKeys();
    expect(keys.map((k) => k.kid)).toEqual([ownKid]);
    expect(await b.audit.verify()).toMatchObject({ status: 'intact' });
  });

  describe('a rotation of the signing key', () => {
    async function rotate(env: Record<string, string>): Promise<Broker> {
      const b = broker as Broker;
      const saved = path.join(b.dir, 'saved-keys.json');
      writeFileSync(saved, JSON.stringify(await b.audit.signingKeys()));
      await b.app.close();
      const next = await newKey();
      const keyFile = path.join(b.dir, 'next-key.json');
      writeFileSync(keyFile, JSON.stringify(next.privateKey.export({ format: 'jwk' })));
      broker = await startBroker(db, {
        BROKER_AUDIT_SIGNING_KEY_FILE: keyFile,
        ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.replace('$SAVED', saved)])),
      });
      return broker;
    }

    it('should chain on and verify intact when the previous public key is in BROKER_AUDIT_TRUSTED_KEYS_FILE', async () => {
      const oldKid = (await checkpoints(broker as Broker))[5].kid;
      const b = await rotate({ BROKER_AUDIT_TRUSTED_KEYS_FILE: '$SAVED' });
      expect(await b.audit.verify()).toMatchObject({ status: 'intact' });
      await record(b, 5, 31);
      const cps = await checkpoints(b);
      const newKid = cps[cps.length - 1].kid;
      expect(newKid).not.toBe(oldKid);
      expect(cps.map((c) => c.kid)).toEqual([...Array<string>(6).fill(oldKid), newKid, newKid]);
      expect(await refusal(b)).toBeNull();
      for (const mode of ['full', 'routine'] as const) {
        expect(await b.audit.verify({ mode })).toMatchObject({ status: 'intact', checkpoints: 8 });
      }
      expect((await b.audit.signingKeys()).keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
      expect(await untrustedEvents(b)).toEqual([]);
    });

    it('should stop and say what to configure when the previous key is not trusted', async () => {
      const b = await rotate({});
      expect(await b.audit.verify()).toMatchObject({ status: 'broken', problem: 'checkpoint_signature_invalid' });
      await record(b, 5, 31);
      expect(await checkpoints(b)).toHaveLength(6);
      expect(await refusal(b)).toMatchObject({ last_seq: '30' });
      expect(error.mock.calls.map(([m]) => String(m))).toContainEqual(
        expect.stringContaining(
          "put the previous key's public JWKS (GET /api/audit/keys, saved before the rotation) in BROKER_AUDIT_TRUSTED_KEYS_FILE",
        ),
      );
    });
  });
});
