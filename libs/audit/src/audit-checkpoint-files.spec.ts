import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { newestCheckpointFile, tailOf } from './audit-checkpoint-files.js';
import { CHECKPOINT_JWS_TYPE, signAuditJws, signCheckpoint } from './audit-verifier.js';

/**
 * The checkpoint folder is read at start-up, before anything else vouches for it: whatever a file
 * holds (any JSON type in any field), the newest file that is a checkpoint signed with a trusted
 * key wins and every other one is skipped with a warning, never an exception.
 */
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const KID = 'k1';
const jwk: JWK = { ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256' };
const key = { alg: 'ES256', kid: KID, privateKey };
const trusted = (kid: string | undefined) => (kid === KID ? jwk : undefined);

const file = (seq: number) => `checkpoint-${String(seq).padStart(19, '0')}.json`;
const payload = (lastSeq: string) => ({
  v: 1 as const,
  first_seq: '1',
  last_seq: lastSeq,
  last_hash: 'a'.repeat(64),
  prev_checkpoint_hash: '0'.repeat(64),
  count: lastSeq,
  time: '2026-12-07T00:00:00.000Z',
  kid: KID,
});

describe('newestCheckpointFile', () => {
  let dir: string;
  const warnings: string[] = [];
  const logger = { warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'checkpoint-files-'));
    warnings.length = 0;
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('should skip files whose fields have the wrong JSON types and take the newest genuine one', async () => {
    const genuine = await signCheckpoint(payload('10'), key);
    writeFileSync(path.join(dir, file(10)), JSON.stringify({ kid: KID, jws: genuine, last_seq: '10' }));
    const numericSeq = await signAuditJws({ ...payload('20'), last_seq: 20 }, key, CHECKPOINT_JWS_TYPE);
    const bodies: [number, string][] = [
      [11, 'null'],
      [12, '[]'],
      [13, '"checkpoint"'],
      [14, '42'],
      [15, JSON.stringify({ kid: 5, jws: 7 })],
      [16, JSON.stringify({ kid: KID, jws: { a: 1 } })],
      [17, JSON.stringify({ kid: [KID], jws: genuine })],
      [18, JSON.stringify({ kid: { toString: KID }, jws: [genuine] })],
      [19, JSON.stringify({ kid: KID, jws: `${genuine}\u0000` })],
      [20, JSON.stringify({ kid: KID, jws: numericSeq })],
      [21, JSON.stringify({ kid: KID, jws: await signCheckpoint(payload('1'.repeat(20)), key) })],
      [22, '{"kid": "k1", "jws": "a.b.c"}'],
    ];
    for (const [seq, body] of bodies) writeFileSync(path.join(dir, file(seq)), body);

    await expect(newestCheckpointFile(dir, trusted, logger)).resolves.toEqual(tailOf({ jws: genuine, last_seq: '10' }));
    expect(warnings).toEqual(
      bodies
        .map(
          ([seq]) =>
            `audit checkpoint file ${path.join(dir, file(seq))} is not a checkpoint signed with a trusted key; skipped`,
        )
        .reverse(),
    );
  });

  it('should answer null, without a warning, for a folder that does not exist or holds no checkpoint', async () => {
    await expect(newestCheckpointFile(path.join(dir, 'missing'), trusted, logger)).resolves.toBeNull();
    writeFileSync(path.join(dir, 'notes.txt'), 'not a checkpoint');
    writeFileSync(path.join(dir, 'checkpoint-1.json'), 'null');
    await expect(newestCheckpointFile(dir, trusted, logger)).resolves.toBeNull();
    await expect(newestCheckpointFile('', trusted, logger)).resolves.toBeNull();
    expect(warnings).toEqual([]);
  });
});
