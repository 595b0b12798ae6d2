import { compactVerify, decodeJwt, decodeProtectedHeader, type JWK, type JWTPayload } from 'jose';
import { GENESIS_HASH } from './audit-chain.js';
import {
  AUDIT_JWS_ALGORITHMS,
  checkpointHash,
  importOnce,
  unverifiedPayload,
  type AuditBreak,
  type AuditCheckpoint,
  type CheckpointPayload,
  type PassesOver,
} from './audit-verifier.js';

// The signed checkpoints as verify checks them (online and offline): each one's signature and
// payload, the chain of checkpoint hashes, and the junk a later checkpoint passed over.

/**
 * Checks each checkpoint's signature (against `keys`, a JWKS's `keys`), that its payload is the
 * stored row, and that checkpoints chain without a gap. Returns the problems and the checkpoints
 * that passed (whose `last_hash` the chain walk then compares).
 */
export async function verifyCheckpoints(
  checkpoints: AuditCheckpoint[],
  keys: JWK[],
  /**
   * Which signatures to check (default: all). The others are checked for payload = row and for the
   * hash link to the next checkpoint, whose signature covers it: with the newest signature checked,
   * every older checkpoint is authenticated through the chain of `prev_checkpoint_hash`.
   */
  checkSignature: (cp: AuditCheckpoint, index: number, count: number) => boolean = () => true,
  /**
   * Whether a key id is trusted (default: every key in `keys`, as offline, where they are the
   * auditor's). Passes-over are followed only back from a newest checkpoint under a trusted key:
   * a newest one under a key merely published in the table may claim to pass over genuine ones.
   */
  trustedKid: (kid: string | undefined) => boolean = () => true,
): Promise<{ breaks: AuditBreak[]; valid: AuditCheckpoint[] }> {
  const breaks: AuditBreak[] = [];
  const valid: AuditCheckpoint[] = [];
  const sorted = [...checkpoints].sort((a, b) => (BigInt(a.last_seq) < BigInt(b.last_seq) ? -1 : 1));
  const newest = sorted[sorted.length - 1];
  const gaps = newest && trustedKid(kidOf(newest.jws)) ? passedOverGaps(sorted) : new Map<number, number>();
  const gapStarts = new Map([...gaps].map(([k, start]) => [start, k]));
  const marks = new Map<number, { breaks: number; valid: number }>();
  /**
   * A checkpoint that passes over untrusted ones, found genuine: what was said about the rows it
   * passes over (a junk row may even look valid where signatures are not checked) is replaced by
   * one problem naming them all, however many there are.
   */
  const accept = (cp: AuditCheckpoint, index: number) => {
    const start = gaps.get(index);
    const mark = start === undefined ? undefined : marks.get(start);
    if (start !== undefined && mark) {
      breaks.length = mark.breaks;
      valid.length = mark.valid;
      const first = sorted[start];
      const last = sorted[index - 1];
      breaks.push({
        seq: first.first_seq,
        kind: 'checkpoint_signature_invalid',
        detail:
          `${index - start} checkpoint(s) ${first.first_seq}..${last.last_seq} are not signed with a trusted key ` +
          `(junk appended at the end); checkpoint ${cp.first_seq}..${cp.last_seq} passed over them`,
      });
    }
    valid.push(cp);
  };
  let prevHash = GENESIS_HASH;
  let prevLast: bigint | null = null;
  for (const [index, cp] of sorted.entries()) {
    if (gapStarts.has(index)) marks.set(index, { breaks: breaks.length, valid: valid.length });
    const bad = (detail: string) => breaks.push({ seq: cp.first_seq, kind: 'checkpoint_signature_invalid', detail });
    try {
      const header = decodeProtectedHeader(cp.jws);
      if (!checkSignature(cp, index, sorted.length)) {
        const p = decodeJwt<CheckpointPayload & JWTPayload>(cp.jws);
        if (!samePayload(p, cp, header.kid)) {
          bad(`checkpoint ${cp.first_seq}..${cp.last_seq} differs from what was signed`);
        } else if (
          p.prev_checkpoint_hash !== prevHash ||
          (prevLast !== null && BigInt(p.first_seq) !== prevLast + 1n)
        ) {
          bad(`the checkpoint before ${cp.first_seq}..${cp.last_seq} is missing or was replaced`);
        } else accept(cp, index);
        prevHash = checkpointHash(cp.jws);
        prevLast = BigInt(cp.last_seq);
        continue;
      }
      const jwk = keys.find((k) => k.kid === header.kid);
      if (!jwk || !header.kid || !header.alg) {
        bad(`checkpoint ${cp.first_seq}..${cp.last_seq} is signed with an unknown key ${String(header.kid)}`);
        prevHash = checkpointHash(cp.jws);
        prevLast = BigInt(cp.last_seq);
        continue;
      }
      const key = await importOnce(jwk, header.alg);
      const { payload } = await compactVerify(cp.jws, key, { algorithms: AUDIT_JWS_ALGORITHMS });
      const p = JSON.parse(new TextDecoder().decode(payload)) as CheckpointPayload;
      if (!samePayload(p, cp, header.kid)) {
        bad(`checkpoint ${cp.first_seq}..${cp.last_seq} differs from what was signed`);
      } else if (p.prev_checkpoint_hash !== prevHash || (prevLast !== null && BigInt(p.first_seq) !== prevLast + 1n)) {
        bad(`the checkpoint before ${cp.first_seq}..${cp.last_seq} is missing or was replaced`);
      } else {
        accept(cp, index);
      }
    } catch (e) {
      bad(
        `checkpoint ${cp.first_seq}..${cp.last_seq}: the signature does not verify (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    prevHash = checkpointHash(cp.jws);
    prevLast = BigInt(cp.last_seq);
  }
  return { breaks, valid };
}

/**
 * The rows passed over by a checkpoint that says so (PassesOver), as index of that checkpoint →
 * index of the first row it passes over. Followed back from the newest checkpoint, whose signature
 * (checked by the caller) covers, through the hashes each one names, every checkpoint on the way;
 * a claim made by a row off that way (junk itself) is never followed.
 */
export function passedOverGaps(
  sorted: Array<Pick<AuditCheckpoint, 'jws' | 'prev_checkpoint_hash' | 'first_seq' | 'last_seq'>>,
): Map<number, number> {
  const at = new Map<string, number>();
  for (const [i, cp] of sorted.entries()) at.set(checkpointHash(cp.jws), i);
  const gaps = new Map<number, number>();
  let i = sorted.length - 1;
  while (i >= 0) {
    const cp = sorted[i];
    const po = passesOver(unverifiedPayload(cp.jws));
    const j = po ? at.get(po.after_hash) : undefined;
    if (
      po &&
      j !== undefined &&
      j < i - 1 &&
      po.count === String(i - 1 - j) &&
      po.first_seq === sorted[j + 1].first_seq &&
      po.last_seq === sorted[i - 1].last_seq &&
      sorted[j].last_seq === po.after_seq
    ) {
      gaps.set(i, j + 1);
      i = j;
      continue;
    }
    const prev = at.get(cp.prev_checkpoint_hash);
    i = prev !== undefined && prev < i ? prev : -1;
  }
  return gaps;
}

function kidOf(jws: string): string | undefined {
  try {
    return decodeProtectedHeader(jws).kid;
  } catch {
    return undefined;
  }
}

/** The payload's `passes_over`, when it has the right shape. */
export function passesOver(p: Record<string, unknown> | null): PassesOver | null {
  const po = p?.passes_over as Record<string, unknown> | undefined;
  if (!po || typeof po !== 'object') return null;
  const keys = ['after_hash', 'after_seq', 'first_seq', 'last_seq', 'count'] as const;
  return keys.every((k) => typeof po[k] === 'string') ? (po as unknown as PassesOver) : null;
}

function samePayload(p: CheckpointPayload, cp: AuditCheckpoint, kid: string | undefined): boolean {
  return (
    p.first_seq === cp.first_seq &&
    p.last_seq === cp.last_seq &&
    p.last_hash === cp.last_hash &&
    p.prev_checkpoint_hash === cp.prev_checkpoint_hash &&
    p.count === cp.event_count &&
    p.kid === kid
  );
}
