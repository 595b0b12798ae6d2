import type { NewestCheckpointContext, NewestCheckpointProblem } from './audit-newest-checkpoint.js';
import { newestCheckpointProblem } from './audit-newest-checkpoint.js';
import { checkpointHash, type AuditCheckpoint, type PassesOver } from './audit-verifier.js';

// Junk at the end of the checkpoint chain: the database accepts a checkpoint only after the newest
// one (AuditCheckpointsOnlyAtTheEnd) and cannot check a signature, so whoever holds the runtime
// role can append a row the broker cannot verify. Refusing to sign on top of it stopped the
// checkpoints for good; the broker now passes over it (PassesOver in audit-verifier.ts).

/** The newest checkpoint is untrusted, and this is the newest one below it that is trusted. */
export interface PassOverPlan {
  /** The newest checkpoint (untrusted): the row the next one continues in the table. */
  newest: AuditCheckpoint;
  /** The newest trusted checkpoint before it. */
  after: AuditCheckpoint;
  /** The rows passed over: the first seq of the oldest and how many. */
  first_seq: string;
  count: number;
  /** What is wrong with the newest row. */
  reason: string;
}

/** How many rows are read at a time, newest first. */
const PAGE = 100;

/**
 * Whether the problem of the newest checkpoint `newest` is junk appended at the end that the next
 * checkpoint may pass over, and if so the plan. Only an unverifiable signature or an unknown key
 * qualifies: checkpoints removed or replaced (gone, cut, fork) still stop the signing, since no
 * append can cause them. So does a chain with no trusted checkpoint at all (a rotated signing key
 * whose predecessor is not in BROKER_AUDIT_TRUSTED_KEYS_FILE looks like that): there is nothing to
 * vouch for, and passing over the whole history would hide the missing setting. Looks back at most `max` rows for a trusted one, each judged by the same
 * decision as the newest (newestCheckpointProblem: with a known tail, it must be that one or
 * descend from it; rows below the tail are a cut). Null: stop, as before.
 */
export async function passOverPlan(
  newest: AuditCheckpoint,
  problem: NewestCheckpointProblem,
  ctx: NewestCheckpointContext,
  before: (lastSeq: string, limit: number) => Promise<AuditCheckpoint[]>,
  max: number,
): Promise<PassOverPlan | null> {
  if (problem.kind !== 'key' && problem.kind !== 'signature') return null;
  let count = 1;
  let first = newest.first_seq;
  let below = newest.last_seq;
  while (count <= max) {
    const rows = await before(below, PAGE);
    if (rows.length === 0) return null;
    for (const row of rows) {
      const p = await newestCheckpointProblem(row, ctx);
      if (!p) return { newest, after: row, first_seq: first, count, reason: problem.reason };
      if (p.kind !== 'key' && p.kind !== 'signature') return null;
      count++;
      first = row.first_seq;
      below = row.last_seq;
      if (count > max) return null;
    }
  }
  return null;
}

/** What the checkpoint signed on top of the plan's rows says about them. */
export function passesOverOf(plan: PassOverPlan): PassesOver {
  return {
    after_hash: checkpointHash(plan.after.jws),
    after_seq: plan.after.last_seq,
    first_seq: plan.first_seq,
    last_seq: plan.newest.last_seq,
    count: String(plan.count),
  };
}
