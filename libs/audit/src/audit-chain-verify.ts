import type { EntityManager } from 'typeorm';
import { GENESIS_HASH } from './audit-chain.js';
import type { KnownTail } from './audit-checkpoint-files.js';
import type { AuditCheckpointsService } from './audit-checkpoints.service.js';
import type { AuditChainRepository } from './audit-chain.repository.js';
import { verifyCheckpoints } from './audit-checkpoint-verify.js';
import { newestCheckpointProblem } from './audit-newest-checkpoint.js';
import { anchorProblem } from './audit-retention-proof.js';
import type { AuditVerifyTrust } from './audit-verify-trust.js';
import { ChainWalk, sortBreaks, type AuditBreak, type AuditCheckpoint, type AuditBreakKind } from './audit-verifier.js';

// The verify walk over the hash chain: what a verify reads (head, anchor, checkpoints, the events
// in seal order; the SQL is in audit-chain.repository.ts) and what it reports. AuditChainService
// (audit-chain.service.ts) validates the request, runs this in one REPEATABLE READ snapshot and
// schedules the full verify; ChainWalk (audit-verifier.ts) is the pure check of each link.

export type AuditChainProblemKind = AuditBreakKind;
export type AuditChainProblem = AuditBreak;

interface VerifyCommon {
  /** Sealed events checked. */
  count: number;
  /** Events not sealed yet (committed within the last moments); not covered by the check. */
  unsealed: number;
  /** Signed checkpoints whose signature was checked. */
  checkpoints: number;
  /** `full`: every event; `routine`: events after the last full verify plus a sample; `range`: from_id..to_id. */
  mode: 'full' | 'routine' | 'range';
  /** Routine: the first seq walked (one past the last full verify), and the sampled older checkpoint ranges. */
  since?: string;
  sampled?: string[];
}

export type AuditVerifyResult =
  | (VerifyCommon & {
      status: 'intact';
      firstId: string | null;
      lastId: string | null;
      lastSeq: string | null;
      lastHash: string | null;
    })
  | (VerifyCommon & {
      status: 'broken';
      /** The first bad chain position and what broke there. */
      firstBadSeq: string;
      firstBadId: string | null;
      problem: AuditChainProblemKind;
      /** Every problem found, in chain order (at most 100). */
      problems: AuditChainProblem[];
    });

const VERIFY_BATCH = 5000;
const MAX_PROBLEMS = 100;
/**
 * The newest checkpoint vouches for every older one (newestCheckpointProblem, the same decision as
 * the signer's): signed with a key this broker holds or was told to trust, and, when this process
 * knows a genuine checkpoint, still holding it and descending from it. Its signature alone is
 * left to verifyCheckpoints, which reports it already. Without any trusted key
 * (BROKER_AUDIT_SIGNING=off and no BROKER_AUDIT_TRUSTED_KEYS_FILE) there is nothing to anchor on
 * and the published keys are all there is.
 */
async function untrustedNewest(
  checkpoints: AuditCheckpoint[],
  trust: Pick<AuditCheckpointsService, 'trusting' | 'trustedKey'>,
  tail: KnownTail | null,
): Promise<AuditBreak | null> {
  if (!trust.trusting) return null;
  const newest = checkpoints[checkpoints.length - 1];
  const problem = await newestCheckpointProblem(newest, {
    tail,
    trustedKey: (kid) => trust.trustedKey(kid),
    jwsFrom: (lastSeq) => Promise.resolve(checkpoints.filter((c) => BigInt(c.last_seq) >= lastSeq).map((c) => c.jws)),
  });
  if (!problem || problem.kind === 'signature') return null;
  const range = newest ? ` ${newest.first_seq}..${newest.last_seq}` : '';
  return {
    seq: problem.seq,
    kind: 'checkpoint_signature_invalid',
    detail: `the newest checkpoint${range} ${problem.reason}`,
  };
}

/** Older checkpoint ranges a routine verify re-reads, chosen at random each time. */
const SAMPLE_RANGES = 3;

/**
 * Recomputes the chain inside `m`'s transaction: from the first retained event (or the one after
 * the last intact full verify, for a routine verify, plus a sample of older signed ranges) to the
 * head, or between the seqs of `fromId`/`toId`; then checks the head, the anchor and the expected
 * head hash. At most MAX_PROBLEMS problems, in chain order.
 */
export async function verifyChain(
  m: EntityManager,
  chainRepo: AuditChainRepository,
  checkpointsService: Pick<AuditCheckpointsService, 'all' | 'verificationKeys' | 'trusting' | 'trustedKey'>,
  fromId: string | null,
  toId: string | null,
  expectedHead: string | null,
  routine: boolean,
  trust: Pick<AuditVerifyTrust, 'lastIntactFullVerifySeq'>,
  /** The checkpoint this process knows (AuditCheckpointsService.knownTail), read before the snapshot. */
  knownTail: KnownTail | null = null,
): Promise<AuditVerifyResult> {
  const head = await chainRepo.chainHead(m);
  const anchor = await chainRepo.newestAnchor(m);
  const unsealed = await chainRepo.unsealedCount(m);
  const checkpoints = await checkpointsService.all(m);
  // A routine verify checks the newest signature only; the older checkpoints are authenticated
  // through the signed chain of checkpoint hashes (payloads still compared with the rows).
  const { breaks: checkpointBreaks, valid } = await verifyCheckpoints(
    checkpoints,
    await checkpointsService.verificationKeys(m),
    routine && fromId === null && toId === null ? (_cp, i, n) => i === n - 1 : undefined,
    (kid) => !checkpointsService.trusting || checkpointsService.trustedKey(kid) !== undefined,
  );
  const untrusted = await untrustedNewest(checkpoints, checkpointsService, knownTail);
  if (untrusted) checkpointBreaks.push(untrusted);
  const full = fromId === null && toId === null;
  const mode = full ? (routine ? 'routine' : 'full') : 'range';
  const chainStart = anchor ? BigInt(anchor.first_seq) : 1n;
  const headSeq = head ? BigInt(head.last_seq) : 0n;

  let startSeq = chainStart;
  let endSeq = headSeq;
  let empty = false;
  if (fromId !== null) {
    const s = await chainRepo.minSeqFrom(m, fromId);
    if (!s) empty = true;
    else startSeq = BigInt(s) > chainStart ? BigInt(s) : chainStart;
  }
  if (toId !== null) {
    const s = await chainRepo.maxSeqTo(m, toId);
    if (!s) empty = true;
    else endSeq = BigInt(s);
  }

  if (full && routine) {
    // Only a full verify this broker recorded and signed, whose last seq still has that hash
    // (AuditVerifyTrust); without one the routine verify walks everything.
    const last = await trust.lastIntactFullVerifySeq(m);
    if (last && /^\d+$/.test(last) && BigInt(last) + 1n > startSeq) {
      startSeq = BigInt(last) + 1n;
    }
  }
  // The hash the first checked event must link to; null = unknown (range starts mid-chain on a
  // missing predecessor), in which case its own prev_hash is taken as given.
  let expectedPrev: string | null = anchor ? anchor.prev_hash : GENESIS_HASH;
  if (startSeq > chainStart) {
    expectedPrev = (await chainRepo.hashAtSeq(m, startSeq - 1n)) ?? null;
  }
  const walk = new ChainWalk(startSeq, expectedPrev, valid, expectedHead);
  if (!empty && endSeq >= startSeq) await walkRange(m, chainRepo, walk, startSeq, endSeq);
  if (!empty && walk.nextSeq <= endSeq) {
    walk.report({
      seq: walk.nextSeq.toString(),
      id: head?.last_id ?? undefined,
      kind: 'missing_events',
      detail: `${endSeq - walk.nextSeq + 1n} event(s) sealed after event ${walk.lastId ?? '(none)'} are missing; the last sealed was event ${head?.last_id ?? '?'}`,
    });
  }
  const extra: AuditBreak[] = [];
  const sampled: string[] = [];
  if (full && routine) {
    // A random sample of older signed ranges, re-read in full.
    const older = valid.filter((c) => BigInt(c.first_seq) >= chainStart && BigInt(c.last_seq) < startSeq);
    for (let i = 0; i < SAMPLE_RANGES && older.length > 0; i++) {
      const [cp] = older.splice(Math.floor(Math.random() * older.length), 1);
      const first = BigInt(cp.first_seq);
      const last = BigInt(cp.last_seq);
      let prev: string | null = anchor && first === chainStart ? anchor.prev_hash : GENESIS_HASH;
      if (first > chainStart) {
        prev = (await chainRepo.hashAtSeq(m, first - 1n)) ?? null;
      }
      const sample = new ChainWalk(first, prev, valid);
      await walkRange(m, chainRepo, sample, first, last);
      if (sample.nextSeq <= last) {
        sample.report({
          seq: sample.nextSeq.toString(),
          kind: 'missing_events',
          detail: `${last - sample.nextSeq + 1n} event(s) of the signed range ${cp.first_seq}..${cp.last_seq} are missing`,
        });
      }
      extra.push(...sample.breaks);
      walk.count += sample.count;
      sampled.push(`${cp.first_seq}..${cp.last_seq}`);
    }
  }
  if (full) {
    const latest = valid[valid.length - 1];
    if (latest && BigInt(latest.last_seq) > headSeq) {
      extra.push({
        seq: (headSeq + 1n).toString(),
        kind: 'head_mismatch',
        detail: `the head (seq ${headSeq}) is behind the latest signed checkpoint (seq ${latest.last_seq}): sealed events were removed from the end`,
      });
    } else if (head && walk.lastSeq === headSeq && walk.lastHash !== head.last_hash) {
      extra.push({
        seq: head.last_seq,
        kind: 'head_mismatch',
        detail: 'the last sealed event is not the recorded head',
      });
    }
    // Only the newest anchor matters (verification starts there); a later retention may remove
    // the proof that explained an older one.
    if (anchor) {
      const problem = await anchorProblem(anchor, await chainRepo.retentionEvents(m), {
        keyFor: (kid) => checkpointsService.trustedKey(kid),
        trusting: checkpointsService.trusting,
      });
      if (problem) extra.push(problem);
    }
    // A kept head older than the retained chain can only be matched by its signed checkpoint.
    // (A routine verify also takes a signed checkpoint before the part it re-read.)
    const retired = valid.some(
      (c) => c.last_hash === expectedHead && BigInt(c.last_seq) < (routine ? startSeq : chainStart),
    );
    if (expectedHead !== null && !walk.expectedHeadSeen && !retired) {
      extra.push({
        seq: (walk.lastSeq ?? headSeq).toString(),
        kind: 'head_mismatch',
        detail: 'the expected head hash is neither an event nor a checkpoint of this chain: the chain was rewritten',
      });
    }
  }
  const problems = sortBreaks([...checkpointBreaks, ...walk.breaks, ...extra]).slice(0, MAX_PROBLEMS);
  const common = {
    count: walk.count,
    unsealed,
    checkpoints: checkpoints.length,
    mode,
    ...(mode === 'routine' ? { since: startSeq.toString(), sampled } : {}),
  } as const;
  const first = problems[0];
  if (first) {
    return {
      ...common,
      status: 'broken',
      firstBadSeq: first.seq,
      firstBadId: first.id ?? null,
      problem: first.kind,
      problems,
    };
  }
  return {
    ...common,
    status: 'intact',
    firstId: walk.firstId,
    lastId: walk.lastId,
    lastSeq: walk.lastSeq === null ? null : walk.lastSeq.toString(),
    lastHash: walk.lastHash,
  };
}

/** Feeds the events with startSeq <= seq <= endSeq to the walk, in keyset batches. */
async function walkRange(
  m: EntityManager,
  chainRepo: AuditChainRepository,
  walk: ChainWalk,
  startSeq: bigint,
  endSeq: bigint,
): Promise<void> {
  let after: { seq: string; id: string } | null = null;
  for (;;) {
    const rows = await chainRepo.chainBatch(m, startSeq, endSeq, after, VERIFY_BATCH);
    for (const row of rows) walk.push(row);
    if (rows.length < VERIFY_BATCH) break;
    const last = rows[rows.length - 1];
    after = { seq: last.seq as string, id: last.id };
  }
}
