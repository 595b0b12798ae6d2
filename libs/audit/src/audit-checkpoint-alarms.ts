import type { EntityManager } from 'typeorm';
import type { AuditEventInput } from './audit-event.js';
import { passOverPlan, type PassOverPlan } from './audit-checkpoint-pass-over.js';
import type { NewestCheckpointContext, NewestCheckpointProblem } from './audit-newest-checkpoint.js';
import { checkpointHash, type AuditCheckpoint } from './audit-verifier.js';

// The broker's alarms about the newest checkpoint (AuditCheckpointsService.checkpoint()): stopped
// on top of one it cannot trust, or passing over junk appended at the end.

/** Why the broker signs no checkpoint on top of the newest one (shown by /health/ready). */
export interface CheckpointRefusal {
  /** The newest checkpoint's range and key (null when none is left). */
  first_seq: string | null;
  last_seq: string | null;
  kid: string | null;
  reason: string;
}

/** Untrusted checkpoints at the end that this process passed over (recorded as audit.checkpoint_passed_over). */
export interface CheckpointsPassedOver {
  /** The rows passed over: the first seq of the oldest, the last seq of the newest, how many. */
  first_seq: string;
  last_seq: string;
  count: number;
  /** What is wrong with the newest of them (completes "the newest checkpoint (…) …"). */
  reason: string;
  /** When this process found them (ISO 8601). */
  at: string;
}

/** How long /health/ready and the console show a pass-over (the event stays in the log). */
const PASSED_OVER_SHOWN_MS = 24 * 3600_000;

/**
 * How many untrusted checkpoints at the end the broker passes over at most, looking for the newest
 * one it trusts (each costs a row read, and a signature check for a trusted kid); beyond, it stops.
 */
export const MAX_PASSED_OVER = 1000;

/**
 * What one process does about a newest checkpoint it cannot trust, and remembers of it: it stops
 * (`refused`, one error and one `audit.checkpoint_untrusted` event per problem), or passes over junk
 * at the end (the plan looked for once per newest row: a rotation left unconfigured finds nothing
 * at every round; the alarm said once per newest junk row; `shown` for a day after).
 */
export class CheckpointAlarms {
  private refusal: (CheckpointRefusal & { key: string }) | null = null;
  private passed: (CheckpointsPassedOver & { key: string; ms: number }) | null = null;
  private notFoundFor: string | null = null;

  constructor(
    private readonly logger: { error(message: string): void; log(message: string): void },
    private readonly insertEvent: (m: EntityManager, input: AuditEventInput) => Promise<unknown>,
  ) {}

  /** Set while the broker refuses to sign on top of the newest checkpoint. */
  get refused(): CheckpointRefusal | null {
    if (!this.refusal) return null;
    const { key: _key, ...refusal } = this.refusal;
    return refusal;
  }

  /** The newest checkpoint (or the one passed over to) is trusted: signing goes on. */
  resumed(): void {
    if (this.refusal) this.logger.log('audit checkpoints resumed: the newest checkpoint is trusted again');
    this.refusal = null;
  }

  /** Nothing is signed on top of `last` (undefined: no checkpoint left): said once per problem. */
  async stop(m: EntityManager, last: AuditCheckpoint | undefined, found: NewestCheckpointProblem): Promise<void> {
    // Said once per problem (a key this process does not trust may sign many checkpoints).
    if (this.refusal?.key !== found.key) {
      const at = { first_seq: last?.first_seq ?? null, last_seq: last?.last_seq ?? null, kid: last?.kid ?? null };
      const range = last ? ` (seq ${last.first_seq}..${last.last_seq})` : '';
      this.logger.error(
        `audit checkpoints stopped: the newest checkpoint${range} ${found.reason}; no checkpoint is signed on top of it. ` +
          "After a rotation of BROKER_AUDIT_SIGNING_KEY_FILE, put the previous key's public JWKS (GET /api/audit/keys, " +
          'saved before the rotation) in BROKER_AUDIT_TRUSTED_KEYS_FILE and restart; otherwise the checkpoints were ' +
          'changed outside the broker: verify the log against the copies kept outside the database. Recorded as ' +
          'audit.checkpoint_untrusted',
      );
      await this.insertEvent(m, {
        type: 'audit.checkpoint_untrusted',
        outcome: 'failure',
        reason: 'checkpoint_untrusted',
        actor: 'system',
        target: 'audit_checkpoints',
        details: { ...at, problem: found.reason },
      });
      this.refusal = { key: found.key, ...at, reason: found.reason };
    }
  }

  /** passOverPlan() for `newest`, with the alarm recorded in `m` the first time; null: stop. */
  async plan(
    m: EntityManager,
    newest: AuditCheckpoint,
    problem: NewestCheckpointProblem,
    ctx: NewestCheckpointContext,
    before: (lastSeq: string, limit: number) => Promise<AuditCheckpoint[]>,
  ): Promise<PassOverPlan | null> {
    const key = checkpointHash(newest.jws);
    if (this.notFoundFor === key) return null;
    const plan = await passOverPlan(newest, problem, ctx, before, MAX_PASSED_OVER);
    this.notFoundFor = plan ? null : key;
    if (plan && this.passed?.key !== key) await this.alarm(m, plan, key);
    return plan;
  }

  /** The last pass-over, for a day after it. */
  get shown(): CheckpointsPassedOver | null {
    if (!this.passed || Date.now() - this.passed.ms > PASSED_OVER_SHOWN_MS) return null;
    const { key: _key, ms: _ms, ...passed } = this.passed;
    return passed;
  }

  /**
   * An error in the log and an `audit.checkpoint_passed_over` event (OCSF High), in the transaction
   * that signs past the junk when the head is past it already (else in the round before). Not at
   * every round; another instance that finds the same junk before the checkpoint past it commits
   * says it too.
   */
  private async alarm(m: EntityManager, plan: PassOverPlan, key: string): Promise<void> {
    const range = `${plan.first_seq}..${plan.newest.last_seq}`;
    this.logger.error(
      `audit checkpoints: ${plan.count} checkpoint(s) at the end (seq ${range}) are not signed with a trusted key: the ` +
        `newest ${plan.reason}. Someone who can write the database appended them; the next checkpoint passes over ` +
        `them and vouches for the newest trusted one before them, up to seq ${plan.after.last_seq}. Recorded as ` +
        'audit.checkpoint_passed_over; verify keeps reporting them',
    );
    await this.insertEvent(m, {
      type: 'audit.checkpoint_passed_over',
      outcome: 'failure',
      reason: 'checkpoint_untrusted',
      actor: 'system',
      target: 'audit_checkpoints',
      details: {
        first_seq: plan.first_seq,
        last_seq: plan.newest.last_seq,
        count: plan.count,
        kid: plan.newest.kid,
        problem: plan.reason,
        after_seq: plan.after.last_seq,
      },
    });
    const now = new Date();
    this.passed = {
      key,
      ms: now.getTime(),
      first_seq: plan.first_seq,
      last_seq: plan.newest.last_seq,
      count: plan.count,
      reason: plan.reason,
      at: now.toISOString(),
    };
  }
}
