import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { JWK } from 'jose';
import { MAX_CHECKPOINT_FILE_BYTES, readSmallText } from './small-file.js';
import { CHECKPOINT_JWS_TYPE, checkpointHash, verifyAuditJws, type AuditCheckpoint } from './audit-verifier.js';

// The copies of the signed checkpoints outside the database (BROKER_AUDIT_CHECKPOINT_DIR), one file
// per checkpoint, and what a broker reads back from them at start.

/** A checkpoint this process knows to be genuine: the hash of its JWS and its last seq. */
export interface KnownTail {
  hash: string;
  lastSeq: bigint;
}

/** The KnownTail of a genuine checkpoint (its JWS, and the last seq it signs). */
export function tailOf(cp: { jws: string; last_seq: string }): KnownTail {
  return { hash: checkpointHash(cp.jws), lastSeq: BigInt(cp.last_seq) };
}

interface CheckpointLogger {
  warn(message: string): void;
  error(message: string): void;
}

/** The files the folder holds: `checkpoint-<last seq, 19 digits>.json`. */
const CHECKPOINT_FILE = /^checkpoint-\d{19}\.json$/;

/**
 * The newest checkpoint in `dir` whose signature verifies against a trusted key: what this host
 * last signed, outside the database. Starting from it, a broker restarted after the checkpoints were
 * removed from the database (all, or the newest ones) stops instead of signing the rewritten chain
 * again. Unreadable or untrusted files are skipped (newest first: a torn newest file falls back to
 * the one before).
 */
export async function newestCheckpointFile(
  dir: string,
  trustedKey: (kid: string | undefined) => JWK | undefined,
  logger: CheckpointLogger,
): Promise<KnownTail | null> {
  if (!dir) return null;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => CHECKPOINT_FILE.test(n));
  } catch {
    return null; // not made yet
  }
  for (const name of names.sort().reverse()) {
    const file = path.join(dir, name);
    try {
      const cp = JSON.parse(readSmallText(file, MAX_CHECKPOINT_FILE_BYTES)) as AuditCheckpoint;
      const jwk = trustedKey(cp.kid);
      const p = jwk && typeof cp.jws === 'string' ? await verifyAuditJws(cp.jws, jwk, CHECKPOINT_JWS_TYPE) : null;
      if (p && typeof p.last_seq === 'string' && /^\d{1,19}$/.test(p.last_seq)) {
        return tailOf({ jws: cp.jws, last_seq: p.last_seq });
      }
    } catch {
      // reported below
    }
    logger.warn(`audit checkpoint file ${file} is not a checkpoint signed with a trusted key; skipped`);
  }
  return null;
}

/**
 * Writes `cp` to `dir` (nothing when '' ); failures are logged, not fatal. A file is never
 * overwritten: after someone emptied the checkpoints table, a broker that knows no checkpoint signs
 * the rewritten chain again from seq 1, and the copy is what still shows the original.
 */
export function writeCheckpointFile(dir: string, cp: AuditCheckpoint, logger: CheckpointLogger): void {
  if (!dir) return;
  const file = path.join(dir, `checkpoint-${cp.last_seq.padStart(19, '0')}.json`);
  const text = `${JSON.stringify(cp)}\n`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, text, { flag: 'wx' });
  } catch (e) {
    if ((e as { code?: string }).code !== 'EEXIST') {
      logger.warn(`audit checkpoint file not written: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    let kept: string;
    try {
      kept = readSmallText(file, MAX_CHECKPOINT_FILE_BYTES);
    } catch (readError) {
      logger.warn(`audit checkpoint file ${file} exists but cannot be read: ${String(readError)}`);
      return;
    }
    // Another instance sharing the folder wrote this very checkpoint: nothing to say.
    if (kept === text || kept.includes(cp.jws)) return;
    logger.error(
      `audit checkpoint file ${file} already holds another checkpoint for seq ${cp.last_seq}: the checkpoints were replaced in the database; the file is kept as it was (verify the log against it)`,
    );
  }
}
