import { createHash } from 'node:crypto';
import { CompactSign, compactVerify, decodeJwt, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { canonicalJson, chainHash, type ChainedEventFields } from './audit-chain.js';

/** What broke, named for the auditor (issue 14). */
export type AuditBreakKind =
  | 'hash_mismatch'
  | 'missing_events'
  | 'checkpoint_signature_invalid'
  | 'head_mismatch'
  | 'anchor_unexplained'
  | 'anchor_unproven';

export interface AuditBreak {
  /** Chain position concerned (for a checkpoint range: its first seq). */
  seq: string;
  kind: AuditBreakKind;
  /** The event concerned, when there is one. */
  id?: string;
  detail: string;
}

/** One signed checkpoint as stored, exported and published. */
export interface AuditCheckpoint {
  first_seq: string;
  last_seq: string;
  last_hash: string;
  prev_checkpoint_hash: string;
  event_count: string;
  kid: string;
  jws: string;
  created_at?: string;
}

/** What the JWS signs (canonical JSON). */
export interface CheckpointPayload {
  v: 1;
  first_seq: string;
  last_seq: string;
  last_hash: string;
  prev_checkpoint_hash: string;
  count: string;
  time: string;
  kid: string;
  /** Only on a checkpoint that passes over untrusted ones (see PassesOver). */
  passes_over?: PassesOver;
}

/**
 * What a checkpoint signed on top of untrusted checkpoints says about them. The database accepts a
 * checkpoint only after the newest one (it cannot check a signature), so whoever holds the runtime
 * role can append junk at the end; the broker's next checkpoint continues the junk row in the
 * table (`first_seq`, `prev_checkpoint_hash`), but vouches, through `after_hash`, only for the
 * newest checkpoint it trusts, and names the rows in between as not vouched for. The events they
 * span stay covered: this checkpoint's `last_hash` chains over them.
 */
export interface PassesOver {
  /** The SHA-256 of the JWS of the newest trusted checkpoint before the junk. */
  after_hash: string;
  /** Its last seq. */
  after_seq: string;
  /** The rows passed over: the first seq of the oldest, the last seq of the newest, how many rows. */
  first_seq: string;
  last_seq: string;
  count: string;
}

export const CHECKPOINT_JWS_TYPE = 'broker-audit-checkpoint+json';

/** Checkpoints chain by the SHA-256 of the previous checkpoint's compact JWS. */
export function checkpointHash(jws: string): string {
  return createHash('sha256').update(jws, 'utf8').digest('hex');
}

/** The JWS algorithms the audit signing key may use. */
export const AUDIT_JWS_ALGORITHMS = ['EdDSA', 'Ed25519', 'ES256'];

/**
 * A compact JWS over the canonical JSON of `payload`, with the audit signing key; `typ` says what
 * it is (a checkpoint, a recorded verify), so that one kind cannot be passed off as the other.
 */
export function signAuditJws(
  payload: object,
  key: { alg: string; kid: string; privateKey: CryptoKeyLike },
  typ: string,
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(canonicalJson(payload)))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ })
    .sign(key.privateKey);
}

/**
 * The payload of a compact JWS as it reads, signature unchecked (jose's decodeJwt); null when it is
 * not a JWS with a JSON object payload. Only for a JWS whose signature is vouched for otherwise.
 */
export function unverifiedPayload(jws: string): Record<string, unknown> | null {
  try {
    return decodeJwt(jws);
  } catch {
    return null;
  }
}

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;
/**
 * Keys imported for verification, per JWK object and alg: the trusted keys live as long as the
 * broker; the keys a verify reads from the table, as long as that verify.
 */
const importedKeys = new WeakMap<JWK, Map<string, Promise<ImportedKey>>>();

export function importOnce(jwk: JWK, alg: string): Promise<ImportedKey> {
  let cache = importedKeys.get(jwk);
  if (!cache) {
    cache = new Map<string, Promise<ImportedKey>>();
    importedKeys.set(jwk, cache);
  }
  let key = cache.get(alg);
  if (!key) {
    key = importJWK(jwk, alg);
    // A failed import (a JWK that does not fit the alg) is not kept: it says nothing about the next JWS.
    key.catch(() => cache.delete(alg));
    cache.set(alg, key);
  }
  return key;
}

/** The payload of `jws` when it is a `typ` signed by `jwk` (same kid); null when it is not. */
export async function verifyAuditJws(jws: string, jwk: JWK, typ: string): Promise<Record<string, unknown> | null> {
  try {
    const header = decodeProtectedHeader(jws);
    if (header.typ !== typ || !jwk.kid || header.kid !== jwk.kid || !header.alg) return null;
    const key = await importOnce(jwk, header.alg);
    const { payload } = await compactVerify(jws, key, { algorithms: AUDIT_JWS_ALGORITHMS });
    const parsed: unknown = JSON.parse(new TextDecoder().decode(payload));
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function signCheckpoint(
  payload: CheckpointPayload,
  key: { alg: string; kid: string; privateKey: CryptoKeyLike },
): Promise<string> {
  return signAuditJws(payload, key, CHECKPOINT_JWS_TYPE);
}

type CryptoKeyLike = Parameters<CompactSign['sign']>[0];

/** An event as the verifier needs it: the chained fields and the chain columns. */
export interface VerifiableEvent extends ChainedEventFields {
  seq: string | null;
  prev_id: string | null;
  prev_hash: string | null;
  hash: string | null;
}

/**
 * Walks events in `seq` order, one at a time (constant memory): every link and hash, gaps, and
 * the hash each signed checkpoint recorded at its last seq. The same code verifies the database
 * online and an export offline.
 */
export class ChainWalk {
  readonly breaks: AuditBreak[] = [];
  count = 0;
  firstId: string | null = null;
  lastId: string | null = null;
  lastSeq: bigint | null = null;
  lastHash: string | null = null;
  /** Set when an event's hash equals the `expected_head` the auditor kept. */
  expectedHeadSeen = false;
  private expectedSeq: bigint;
  private expectedPrev: string | null;
  private readonly checkpointAt = new Map<string, AuditCheckpoint>();

  /**
   * @param startSeq the first seq to expect
   * @param expectedPrev the hash the first event must link to; null = take it as given
   */
  constructor(
    startSeq: bigint,
    expectedPrev: string | null,
    checkpoints: AuditCheckpoint[],
    private readonly expectedHead: string | null = null,
  ) {
    this.expectedSeq = startSeq;
    this.expectedPrev = expectedPrev;
    for (const cp of checkpoints) this.checkpointAt.set(cp.last_seq, cp);
  }

  /**
   * @param hashOk whether the row's hash is its recomputed hash; computed here unless the caller
   *   did it already (the offline verifier keeps only the chain columns in memory)
   */
  push(row: Pick<VerifiableEvent, 'id' | 'seq' | 'prev_id' | 'prev_hash' | 'hash'>, hashOk?: boolean): void {
    const seq = BigInt(row.seq as string);
    this.count++;
    if (seq < this.expectedSeq) {
      this.report({
        seq: String(seq),
        id: row.id,
        kind: 'hash_mismatch',
        detail: `chain position ${seq} is taken twice`,
      });
      return;
    }
    if (seq > this.expectedSeq) {
      const missing = seq - this.expectedSeq;
      this.report({
        seq: String(this.expectedSeq),
        id: row.prev_id ?? undefined,
        kind: 'missing_events',
        detail: `${missing} event(s) missing before seq ${seq} (event ${row.id}); the last of them was event ${row.prev_id ?? '?'}`,
      });
    } else if (this.expectedPrev !== null && row.prev_hash !== this.expectedPrev) {
      this.report({
        seq: String(seq),
        id: row.id,
        kind: 'hash_mismatch',
        detail: `event ${row.id} does not link to the event sealed before it`,
      });
    }
    if (!(hashOk ?? chainHash(row.prev_hash as string, row as VerifiableEvent) === row.hash)) {
      this.report({
        seq: String(seq),
        id: row.id,
        kind: 'hash_mismatch',
        detail: `event ${row.id} differs from what was sealed`,
      });
    }
    const cp = this.checkpointAt.get(String(seq));
    if (cp && cp.last_hash !== row.hash) {
      this.report({
        seq: cp.first_seq,
        id: row.id,
        kind: 'hash_mismatch',
        detail: `events ${cp.first_seq}..${cp.last_seq} no longer match their signed checkpoint (rewritten and re-chained)`,
      });
    }
    if (this.expectedHead !== null && row.hash === this.expectedHead) this.expectedHeadSeen = true;
    this.firstId ??= row.id;
    this.lastId = row.id;
    this.lastSeq = seq;
    this.lastHash = row.hash;
    this.expectedSeq = seq + 1n;
    this.expectedPrev = row.hash;
  }

  /** The next seq the walk expects (one past the last event seen). */
  get nextSeq(): bigint {
    return this.expectedSeq;
  }

  report(b: AuditBreak): void {
    if (this.breaks.length < 100) this.breaks.push(b);
  }
}

/** Breaks in chain order (lowest seq first); the first is the one verify names. */
export function sortBreaks(breaks: AuditBreak[]): AuditBreak[] {
  return [...breaks].sort((a, b) => {
    const d = BigInt(a.seq) - BigInt(b.seq);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  });
}
