import { decodeProtectedHeader, type JWK } from 'jose';
import type { KnownTail } from './audit-checkpoint-files.js';
import { passesOver } from './audit-checkpoint-verify.js';
import { CHECKPOINT_JWS_TYPE, checkpointHash, unverifiedPayload, verifyAuditJws } from './audit-verifier.js';

// Whether the newest checkpoint may be taken as genuine: one decision for the signer (which chains
// onto it) and for verify (which reports it), so the two cannot drift apart.

/** The newest checkpoint as the decision reads it. */
export interface NewestCheckpoint {
  first_seq: string;
  last_seq: string;
  jws: string;
}

/** Why the newest checkpoint cannot be trusted. */
export interface NewestCheckpointProblem {
  /** Names the problem, so that one problem is reported once (a key may sign many checkpoints). */
  key: string;
  /** What went wrong: the checkpoint's signature alone (which verify also checks on its own), or anything else. */
  kind: 'gone' | 'cut' | 'key' | 'signature' | 'fork';
  /** The first seq the problem leaves without a trusted signature. */
  seq: string;
  /** Completes "the newest checkpoint (…) …". */
  reason: string;
}

export interface NewestCheckpointContext {
  /** The newest checkpoint this process signed, checked, or found in its folder at start (null: none). */
  tail: KnownTail | null;
  /** The public key trusted for a kid: the key in hand or BROKER_AUDIT_TRUSTED_KEYS_FILE, never the table. */
  trustedKey: (kid: string | undefined) => JWK | undefined;
  /** The JWS of the checkpoints whose last seq is at least `lastSeq`, oldest first. */
  jwsFrom: (lastSeq: bigint) => Promise<string[]>;
}

/**
 * Why `newest` (undefined when no checkpoint is left) cannot vouch for the chain; null when it can.
 * Its signature vouches, through the chain of checkpoint hashes, for every older checkpoint, so it
 * must be the checkpoint this process knows, or be signed with a trusted key and descend from that
 * one; with none known, be signed with a trusted key. A process that knows none cannot tell a
 * cut-back chain from the genuine one (README, Audit log).
 */
export async function newestCheckpointProblem(
  newest: NewestCheckpoint | undefined,
  { tail, trustedKey, jwsFrom }: NewestCheckpointContext,
): Promise<NewestCheckpointProblem | null> {
  if (!newest) {
    if (!tail) return null;
    return {
      key: `gone:${tail.lastSeq}`,
      kind: 'gone',
      seq: '1',
      reason: `is gone: no checkpoint is left, but this broker signed or checked one up to seq ${tail.lastSeq}; the checkpoints were removed`,
    };
  }
  const hash = checkpointHash(newest.jws);
  if (tail?.hash === hash) return null;
  const lastSeq = BigInt(newest.last_seq);
  if (tail && lastSeq < tail.lastSeq) {
    return {
      key: `cut:${tail.lastSeq}:${hash}`,
      kind: 'cut',
      seq: (lastSeq + 1n).toString(),
      reason: `ends before seq ${tail.lastSeq}, which this broker signed or checked: checkpoints were removed`,
    };
  }
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(newest.jws).kid;
  } catch {
    return {
      key: `sig:${hash}`,
      kind: 'signature',
      seq: newest.first_seq,
      reason: 'is not a signed checkpoint (no JWS)',
    };
  }
  const jwk = trustedKey(kid);
  if (!jwk) {
    return {
      key: `kid:${String(kid)}`,
      kind: 'key',
      seq: newest.first_seq,
      reason: `is signed with key ${String(kid)}, which this broker neither holds nor trusts (BROKER_AUDIT_TRUSTED_KEYS_FILE)`,
    };
  }
  const p = await verifyAuditJws(newest.jws, jwk, CHECKPOINT_JWS_TYPE);
  if (!p || p.kid !== kid || p.first_seq !== newest.first_seq || p.last_seq !== newest.last_seq) {
    return {
      key: `sig:${hash}`,
      kind: 'signature',
      seq: newest.first_seq,
      reason: `does not verify against key ${kid}`,
    };
  }
  // Signed by a trusted key and newer than what this process knows: it must descend from that
  // (another instance signed on top of it), not from a cut-back chain that someone else signed.
  if (tail && !descends(await jwsFrom(tail.lastSeq), tail, newest)) {
    return {
      key: `fork:${tail.lastSeq}:${hash}`,
      kind: 'fork',
      seq: tail.lastSeq.toString(),
      reason: `does not descend from the checkpoint up to seq ${tail.lastSeq} that this broker signed or checked: the checkpoints were replaced`,
    };
  }
  return null;
}

/**
 * Whether checkpoints `rows` (from the tail's last seq on, oldest first) chain from `tail` up to
 * `newest`: followed back from `newest`, each names (in its payload) the hash of the one before it,
 * or, when it passed over untrusted checkpoints (PassesOver), of the trusted one before them; the way
 * ends at the one this process knows. The newest one's signature, checked by the caller, covers
 * that chain of hashes; the rows passed over are vouched for by nothing.
 */
function descends(rows: string[], tail: KnownTail, newest: NewestCheckpoint): boolean {
  const at = new Map(rows.map((jws, i) => [checkpointHash(jws), i]));
  let i = at.get(checkpointHash(newest.jws));
  if (i === undefined) return false;
  while (i > 0) {
    const p = unverifiedPayload(rows[i]);
    const po = passesOver(p);
    const j = at.get(String(po ? po.after_hash : p?.prev_checkpoint_hash));
    if (j === undefined || (po ? j >= i : j !== i - 1)) return false;
    i = j;
  }
  return checkpointHash(rows[0]) === tail.hash;
}
