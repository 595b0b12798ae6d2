import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, type JWK } from 'jose';
import type { EntityManager } from 'typeorm';
import { chainHash } from './audit-chain.js';
import type { AuditChainRepository } from './audit-chain.repository.js';
import type { AuditCheckpointsService } from './audit-checkpoints.service.js';
import type { AuditEventsRepository } from './audit-events.repository.js';
import type { AuditEventRecord } from './audit-record.js';
import { verifyAuditJws, type AuditBreak, type AuditBreakKind } from './audit-verifier.js';

// Retention proofs (session-13 review, finding 1): the database owner can delete a prefix of the
// chain, insert a matching anchor and any event naming it, but cannot sign. The broker signs the
// anchor each retention batch leaves, after checking the removed events itself; verify (online and
// offline) explains an anchor only with such a proof from a trusted key.

const VERIFY_BATCH = 5000;

/** The JWS type of a retention proof (distinct from a checkpoint's and a recorded verify's). */
export const RETENTION_JWS_TYPE = 'broker-audit-retention+json';

/** What a retention proof signs (canonical JSON): the anchor one retention batch left, and why. */
export interface RetentionProofPayload {
  v: 1;
  anchor_first_seq: string;
  anchor_prev_hash: string;
  /** The cutoff the broker applied (ISO 8601) and the retention period it applied it for. */
  cutoff: string;
  retention_days: number;
  removed: string;
  /** When the broker signed it (its own clock), and a fresh nonce. */
  time: string;
  nonce: string;
  kid: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** A candidate explanation of an anchor: a retention event (type, details, sealed or not). */
export interface RetentionRecord {
  type: string;
  details: unknown;
  hash: string | null;
}

/** The signed payload of a retention proof when `jwk` (trusted) signed it; null otherwise. */
async function retentionProof(
  jws: unknown,
  keyFor: (kid: string | undefined) => JWK | undefined,
): Promise<RetentionProofPayload | null> {
  if (typeof jws !== 'string') return null;
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(jws).kid;
  } catch {
    return null;
  }
  const jwk = keyFor(kid);
  if (!jwk) return null;
  const p = await verifyAuditJws(jws, jwk, RETENTION_JWS_TYPE);
  if (!p || p.kid !== kid || p.v !== 1) return null;
  return p as unknown as RetentionProofPayload;
}

/**
 * Whether the newest anchor (the chain starts again at `anchor.first_seq` on `anchor.prev_hash`)
 * is explained; the problem when it is not. Explained means a retention proof signed with a
 * trusted key (`keyFor`: the key in hand and BROKER_AUDIT_TRUSTED_KEYS_FILE online, the keys file
 * offline) names exactly this anchor, and its cutoff lies at least its retention period before its
 * signing time. The database owner can delete a prefix, insert an anchor and any event, but cannot
 * sign a proof; the broker signs only an anchor it checked first (retentionBoundary).
 *
 * An anchor named only by an `audit.retention_applied` event without such a proof is
 * `anchor_unproven`: the broker before retention proofs (or with signing off) left it, or someone
 * with database access wrote it; nothing in the database tells the two apart. With no trusted key
 * at all (`trusting` false: signing off and no trusted keys file) there is nothing to prove with,
 * and such an event is accepted, as before: then an anchor is only as good as the database.
 */
export async function anchorProblem(
  anchor: { first_seq: string; prev_hash: string },
  records: RetentionRecord[],
  trust: { keyFor: (kid: string | undefined) => JWK | undefined; trusting: boolean },
): Promise<AuditBreak | null> {
  const at = (kind: AuditBreakKind, detail: string): AuditBreak => ({ seq: anchor.first_seq, kind, detail });
  let inconsistent: AuditBreak | null = null;
  for (const r of records) {
    const d = (r.details ?? {}) as Record<string, unknown>;
    const p = await retentionProof(d.proof, trust.keyFor);
    if (!p || p.anchor_first_seq !== anchor.first_seq || p.anchor_prev_hash !== anchor.prev_hash) continue;
    const cutoff = Date.parse(p.cutoff);
    const time = Date.parse(p.time);
    const days = p.retention_days;
    if (
      !Number.isInteger(days) ||
      days < 1 ||
      Number.isNaN(cutoff) ||
      Number.isNaN(time) ||
      cutoff > time - days * DAY_MS
    ) {
      inconsistent = at(
        'anchor_unexplained',
        `the signed retention proof for the anchor at seq ${anchor.first_seq} has a cutoff (${String(p.cutoff)}) later than its retention period (${String(days)} days) before it was signed (${String(p.time)})`,
      );
      continue;
    }
    return null;
  }
  if (inconsistent) return inconsistent;
  const legacy = records.some((r) => {
    const d = (r.details ?? {}) as Record<string, unknown>;
    return (
      r.type === 'audit.retention_applied' &&
      r.hash !== null &&
      d.anchor_first_seq === anchor.first_seq &&
      d.anchor_prev_hash === anchor.prev_hash
    );
  });
  if (legacy && !trust.trusting) return null;
  if (legacy) {
    return at(
      'anchor_unproven',
      `the chain starts again at seq ${anchor.first_seq}, named by a sealed audit.retention_applied event but by no retention proof signed with a trusted key: either a broker before retention proofs (or with signing off) removed the events before it, or someone with database access did and wrote the event`,
    );
  }
  return at(
    'anchor_unexplained',
    `the chain starts again at seq ${anchor.first_seq} without a signed retention proof or a sealed audit.retention_applied event for it: events before it were removed outside retention`,
  );
}
/**
 * The anchor a retention batch with `cutoff` may leave, as the broker computes it before calling
 * the owner's audit_apply_retention() (the owner can replace that function, and can change rows):
 * the longest prefix of the first `limit` sealed events (in seal order) that all happened before
 * the cutoff, each event's hash recomputed and each linked to the one before. Every link is then
 * bound to the retained chain (the first kept event links to the last removed one's hash, and the
 * checkpoints cover the retained chain), so a time rewritten to pass an event off as old shows.
 * Null when nothing may go; throws when the prefix is not what was sealed.
 */
export async function retentionBoundary(
  m: EntityManager,
  chainRepo: AuditChainRepository,
  cutoff: Date,
  limit: number,
): Promise<{ first_seq: string; prev_hash: string } | null> {
  const first = await chainRepo.firstSealedSeq(m);
  if (first === null) return null;
  const end = BigInt('9223372036854775807');
  let last: AuditEventRecord | null = null;
  let seen = 0;
  let after: { seq: string; id: string } | null = null;
  // In batches, as the verify walk reads: the prefix ends at the first event not old enough.
  for (let done = false; !done && seen < limit;) {
    const rows = await chainRepo.chainBatch(m, BigInt(first), end, after, Math.min(VERIFY_BATCH, limit - seen));
    for (const row of rows) {
      seen++;
      if (!(Date.parse(row.occurred_at) < cutoff.getTime())) {
        done = true;
        break;
      }
      const linked =
        last === null || (BigInt(row.seq as string) === BigInt(last.seq as string) + 1n && row.prev_hash === last.hash);
      if (!linked || chainHash(row.prev_hash as string, row) !== row.hash) {
        throw new Error(
          `audit retention refused: event ${row.id} (seq ${String(row.seq)}) is not what was sealed or does not link to the event before it; verify the log`,
        );
      }
      last = row;
    }
    if (rows.length < VERIFY_BATCH) break;
    const tail = rows[rows.length - 1];
    after = { seq: tail.seq as string, id: tail.id };
  }
  return last ? { first_seq: (BigInt(last.seq as string) + 1n).toString(), prev_hash: last.hash as string } : null;
}

type Anchor = { first_seq: string; prev_hash: string };

/**
 * Signs the anchor one retention batch left (with the audit signing key, like a recorded full
 * verify) and records the proof as `audit.retention_signed` in the same transaction. Verify
 * accepts an anchor only with such a proof from a trusted key (anchorProblem): the database owner
 * can delete a prefix and insert an anchor and a matching `audit.retention_applied`, not this.
 * With signing off there is no proof, and nothing is recorded.
 */
export async function proveRetention(
  m: EntityManager,
  checkpoints: Pick<AuditCheckpointsService, 'signOwn' | 'trusting'>,
  events: Pick<AuditEventsRepository, 'insertIn'>,
  done: { removed: number; anchor: Anchor | null },
  expected: Anchor | null,
  cutoff: Date,
  days: number,
): Promise<void> {
  const anchor = done.anchor;
  if (!anchor) return;
  // The owner's function removed other events than the broker found old enough: roll back.
  if (anchor.first_seq !== expected?.first_seq || anchor.prev_hash !== expected.prev_hash) {
    throw new Error(
      `audit retention refused: audit_apply_retention() left the anchor at seq ${anchor.first_seq}, ` +
        `not at ${expected?.first_seq ?? '(nothing to remove)'} where the events older than the cutoff end; it was changed in the database`,
    );
  }
  const removed = done.removed;
  const signed = {
    anchor_first_seq: anchor.first_seq,
    anchor_prev_hash: anchor.prev_hash,
    cutoff: cutoff.toISOString(),
    retention_days: days,
    removed: String(removed),
  };
  const proof = await checkpoints.signOwn(
    { v: 1, ...signed, time: new Date().toISOString(), nonce: randomBytes(16).toString('base64url') },
    RETENTION_JWS_TYPE,
  );
  if (!proof) {
    // Signing off here, but verify trusts keys (BROKER_AUDIT_TRUSTED_KEYS_FILE): it would report
    // this anchor as unproven. Roll back; an instance that signs applies the retention.
    if (checkpoints.trusting) {
      throw new Error(
        'audit retention refused: this instance does not sign (BROKER_AUDIT_SIGNING=off) but verify trusts ' +
          'BROKER_AUDIT_TRUSTED_KEYS_FILE, so the anchor it left would be unproven; run retention where the signing key is',
      );
    }
    return;
  }
  await events.insertIn(m, {
    type: 'audit.retention_signed',
    outcome: 'success',
    actor: 'system',
    target: 'audit_events',
    details: { ...signed, proof },
  });
}

/**
 * One retention batch in the caller's transaction: the anchor the broker expects, the owner's
 * function, then the proof (or a rollback when the two differ). How many events it removed.
 */
export async function retentionBatch(
  m: EntityManager,
  chainRepo: AuditChainRepository,
  checkpoints: Pick<AuditCheckpointsService, 'signOwn' | 'trusting'>,
  events: Pick<AuditEventsRepository, 'insertIn'>,
  run: { cutoff: Date; days: number; limit: number },
): Promise<number> {
  const expected = await retentionBoundary(m, chainRepo, run.cutoff, run.limit);
  const done = await chainRepo.applyRetentionBatch(m, run.cutoff, run.limit);
  await proveRetention(m, checkpoints, events, done, expected, run.cutoff, run.days);
  return done.removed;
}
