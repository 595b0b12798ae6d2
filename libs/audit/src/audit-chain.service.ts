// Over 300 lines with its comments, one job: running the chain. Sealing and retention share one
// queue (one at a time per process), and with the scheduled full verify one set of timers started
// at bootstrap and stopped at shutdown; the SQL is in audit-chain.repository.ts, the verify walk
// in audit-chain-verify.ts, its request checks and refusals in audit-verify-request.ts, the checkpoints in
// audit-checkpoints.service.ts.
import { auditConfig, type AuditConfig } from '@app/config';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { chainHash } from './audit-chain.js';
import { BackgroundTimers } from './audit-timers.js';
import { AuditCheckpointsService } from './audit-checkpoints.service.js';
import { verifyChain, type AuditVerifyResult } from './audit-chain-verify.js';
import { retentionBatch } from './audit-retention-proof.js';
import { AuditChainRepository } from './audit-chain.repository.js';
import { invalid } from './audit-filters.js';
import { auditProtection, type AuditProtection } from './audit-protection.js';
import { AuditEventsRepository } from './audit-events.repository.js';
import { AuditVerifyTrust, overdueText } from './audit-verify-trust.js';
import { fullVerifyRunning, idParam, verifiesAtLimit } from './audit-verify-request.js';
import { AuditStreamRepository } from './stream/audit-stream.repository.js';
import { undeliveredCutoff } from './stream/audit-stream-retention.js';

// The verify walk itself is in audit-chain-verify.ts; its result types are re-exported here.
export type { AuditChainProblem, AuditChainProblemKind, AuditVerifyResult } from './audit-chain-verify.js';

const SEAL_BATCH = 1000;
const SEAL_BATCHES_PER_TICK = 50;
const RETENTION_BATCH = 50_000;
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
const RETENTION_FIRST_RUN_MS = 10_000;
const HOUR_MS = 60 * 60 * 1000;
/** How often the scheduled full verify is checked for (or each period, if shorter). */
export const FULL_VERIFY_CHECK_MS = HOUR_MS;
export const FULL_VERIFY_FIRST_CHECK_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
export interface AuditRetentionResult {
  /** Events removed in this run. */
  removed: number;
  /** The cutoff used; null when retention is off (retentionDays = 0). */
  cutoff: Date | null;
}

/** What a verify covers: the whole log (`full`), what was added since the last full verify plus a sample (`routine`), or an id range. */
export interface AuditVerifyRange {
  fromId?: string | number | bigint | null;
  toId?: string | number | bigint | null;
  expectedHead?: string | null;
  mode?: 'full' | 'routine';
}

/**
 * The hash chain over the audit log: background sealing, verification (the walk itself is
 * verifyChain in audit-chain-verify.ts; here the request checks and the scheduled full verify),
 * retention.
 *
 * The chain runs in *seal order*, numbered by `seq`, not in id order. Identity ids are taken at
 * insert time but become visible at commit, so a lower id can commit after a higher one was
 * already sealed (other libs record inside their own transactions), and the ids of rolled-back
 * transactions never appear. Chaining in id order would have to wait on every gap (a rolled-back
 * id never fills, so sealing would stop) or give up after a grace period (then a slow
 * transaction's event lands below the sealed tip: it breaks the chain or stays unsealed forever).
 * Chaining in seal order has neither failure: each run takes whatever is committed and unsealed,
 * in id order, and appends it; a late lower id just gets the next `seq`. Ids remain the query
 * order; `prev_id` records each link's predecessor so that verification can name a deleted
 * event; `audit_chain_head` holds the last link so that a truncated tail is detected too.
 *
 * Writers never wait for the sealer: record() is a plain INSERT, and the sealer only updates
 * rows that are already committed, under a transaction-scoped advisory lock taken with
 * pg_try_advisory_xact_lock so that several broker instances take turns instead of queueing.
 *
 * Limits of the chain alone: someone who can write to the database could append forged events
 * (they would be sealed like real ones) or rewrite the whole chain after a point. The signed
 * checkpoints (AuditCheckpointsService) catch a rewrite of what they cover; keep exported head
 * hashes (verify's `lastHash`) elsewhere to catch the rest.
 */

@Injectable()
export class AuditChainService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditChainService.name);
  private readonly timers = new BackgroundTimers();
  /** Serialises ticks, sealNow() and retention within this process. */
  private queue: Promise<unknown> = Promise.resolve();
  private ticking = false;
  private stopped = false;
  private failing = false;
  /** Verifies on demand running in this process (at most BROKER_AUDIT_VERIFY_CONCURRENCY). */
  private verifying = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(auditConfig.KEY) private readonly config: AuditConfig,
    private readonly checkpoints: AuditCheckpointsService,
    private readonly chainRepo: AuditChainRepository,
    private readonly events: AuditEventsRepository,
    private readonly trust: AuditVerifyTrust,
    private readonly streamRepo: AuditStreamRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.stopped = false;
    // One warning at start-up when the database role could rewrite the log (issue 14).
    try {
      const p = await auditProtection(this.events);
      if (p.protection === 'weak') this.logger.warn(`audit log protection is weak: ${p.reason}`);
    } catch (e) {
      this.logger.warn(`audit protection check failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.timers.every(this.config.sealIntervalMs, () => this.tick());
    if (this.config.retentionDays > 0) {
      const run = () => {
        this.exclusive(() => this.retain(new Date())).catch((e: unknown) =>
          this.logger.warn(`audit retention failed: ${e instanceof Error ? e.message : String(e)}`),
        );
      };
      this.timers.after(RETENTION_FIRST_RUN_MS, run);
      this.timers.every(RETENTION_INTERVAL_MS, run);
    }
    if (this.config.fullVerifyHours > 0) {
      // Checked hourly and 5 min after start (it runs when the last trusted one is old enough): a
      // timer of the whole period never fired on a broker restarted more often, nor an hourly one.
      const warn = (e: unknown) => this.logger.warn(`audit full verify failed: ${String(e)}`);
      const run = () => void this.scheduledFullVerify().catch(warn);
      this.timers.every(Math.min(this.config.fullVerifyHours * HOUR_MS, FULL_VERIFY_CHECK_MS), run);
      this.timers.after(FULL_VERIFY_FIRST_CHECK_MS, run);
    }
  }

  /** Stops the timers and waits for a running batch, before the pool closes. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.timers.stop();
    await this.queue.catch(() => undefined);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private tick(): void {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    this.exclusive(async () => {
      for (let i = 0; i < SEAL_BATCHES_PER_TICK && !this.stopped; i++) {
        const sealed = await this.sealBatch();
        if (sealed === null || sealed < SEAL_BATCH) break;
      }
      await this.checkpoints.checkpoint();
    })
      .then(
        () => {
          if (this.failing) this.logger.log('audit sealing recovered');
          this.failing = false;
        },
        (e: unknown) => {
          if (!this.failing) {
            this.logger.warn(`audit sealing failed (will retry): ${e instanceof Error ? e.message : String(e)}`);
          }
          this.failing = true;
        },
      )
      .finally(() => {
        this.ticking = false;
      });
  }

  /**
   * Seals everything committed and unsealed now; returns how many events it sealed. Waits (up
   * to ~10 s) while another instance holds the sealing lock.
   */
  sealNow(): Promise<number> {
    return this.exclusive(async () => {
      let total = 0;
      let waits = 0;
      for (;;) {
        const sealed = await this.sealBatch();
        if (sealed === null) {
          if (++waits > 200) throw new Error('audit: another instance holds the sealing lock');
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        total += sealed;
        if (sealed === 0) return total;
      }
    });
  }

  /** One batch in one transaction; null when another instance is sealing. */
  private sealBatch(): Promise<number | null> {
    return this.dataSource.transaction(async (m) => {
      if (!(await this.chainRepo.tryXactLock(m, 'sealer'))) return null;
      const head = await this.chainRepo.chainHead(m);
      if (!head) throw new Error('audit: audit_chain_head is missing');
      const rows = await this.chainRepo.unsealedEvents(m, SEAL_BATCH);
      if (rows.length === 0) return 0;
      let prevHash = head.last_hash;
      const ids: string[] = [];
      const hashes: string[] = [];
      for (const row of rows) {
        prevHash = chainHash(prevHash, row);
        ids.push(row.id);
        hashes.push(prevHash);
      }
      // The owner's function appends exactly these links after the head, or refuses (issue 14).
      await this.chainRepo.seal(m, (BigInt(head.last_seq) + 1n).toString(), head.last_hash, ids, hashes);
      return rows.length;
    });
  }

  /** Whether the database role could rewrite the log (see AuditProtection). */
  protection(): Promise<AuditProtection> {
    return auditProtection(this.events);
  }

  /** Age in seconds of the oldest committed event not sealed yet (0 when all are sealed). */
  async sealingLagSeconds(): Promise<number> {
    return Math.max(0, (await this.chainRepo.oldestUnsealedSeconds()) ?? 0);
  }

  /**
   * Recomputes the chain. Without a range: from the first retained event to the head. With
   * `fromId`/`toId`: the chain from the first sealed event with id ≥ fromId to the last sealed
   * event with id ≤ toId (in seal order). Runs in one REPEATABLE READ snapshot.
   *
   * A full verify (no range, not routine) holds a pool connection and an old snapshot for the
   * whole walk (minutes to hours on a large log), so there is only one at a time across every
   * instance, on demand or scheduled: while one runs, another is refused with `verify_running`
   * (409) rather than queued. A range or routine verify may walk the whole log too (routine with
   * signing off), so a process runs at most BROKER_AUDIT_VERIFY_CONCURRENCY verifies of any kind on
   * demand and refuses more at once with `verify_running`: parallel requests cannot take the pool.
   */
  async verify(range: AuditVerifyRange = {}, options: { recordAs?: string } = {}): Promise<AuditVerifyResult> {
    const fromId = idParam('from_id', range.fromId);
    const toId = idParam('to_id', range.toId);
    if (fromId !== null && toId !== null && BigInt(fromId) > BigInt(toId)) {
      throw invalid('to_id', 'must not be lower than from_id');
    }
    const expectedHead = range.expectedHead ? range.expectedHead.trim().toLowerCase() : null;
    if (expectedHead !== null && !/^[0-9a-f]{64}$/.test(expectedHead)) {
      throw invalid('expected_head', 'expected a head hash (64 hex digits) from an earlier verify');
    }
    const routine = range.mode === 'routine';
    // Counted before the first await, so that concurrent calls see each other.
    if (this.verifying >= this.config.verifyConcurrency) throw verifiesAtLimit(this.config.verifyConcurrency);
    this.verifying++;
    try {
      if (fromId !== null || toId !== null || routine) {
        return await this.walk(this.dataSource.manager, fromId, toId, expectedHead, routine);
      }
      const result = await this.underFullVerifyLock((qr) => this.fullWalk(qr, expectedHead, options.recordAs));
      if (result === LOCK_HELD) throw fullVerifyRunning(await this.trust.fullVerifyOverdue().catch(() => null));
      return result;
    } finally {
      this.verifying--;
    }
  }

  /** The walk in one REPEATABLE READ transaction on `m`'s connection (its QueryRunner's, or the pool's). */
  private walk(
    m: EntityManager,
    fromId: string | null,
    toId: string | null,
    expectedHead: string | null,
    routine: boolean,
  ): Promise<AuditVerifyResult> {
    // Before the snapshot: a checkpoint this process signs meanwhile is then not newer than it.
    const knownTail = this.checkpoints.knownTail;
    return m.transaction('REPEATABLE READ', (t) =>
      verifyChain(t, this.chainRepo, this.checkpoints, fromId, toId, expectedHead, routine, this.trust, knownTail),
    );
  }

  /**
   * A full walk on the lock's own connection (one pool connection per full verify), recorded
   * while the lock is still held: whoever takes it next sees this verify in the log.
   */
  private async fullWalk(qr: QueryRunner, expectedHead: string | null, recordAs?: string): Promise<AuditVerifyResult> {
    const result = await this.walk(qr.manager, null, null, expectedHead, false);
    // A full verify's result goes into the log itself, signed; routine verifies start after the last trusted intact one.
    if (recordAs && result.mode === 'full') await this.recordVerified(qr.manager, result, recordAs);
    return result;
  }

  /**
   * Runs `fn` holding the session advisory lock `broker.audit.full_verify` on a connection of its
   * own; LOCK_HELD at once when another session (this instance or another) holds it.
   */
  private async underFullVerifyLock<T>(fn: (qr: QueryRunner) => Promise<T>): Promise<T | typeof LOCK_HELD> {
    const qr = this.dataSource.createQueryRunner();
    await qr.connect();
    let broken: unknown = undefined;
    try {
      if (!(await this.chainRepo.tryFullVerifyLock(qr.manager))) return LOCK_HELD;
      try {
        return await fn(qr);
      } finally {
        try {
          await this.chainRepo.unlockFullVerify(qr.manager);
        } catch (e) {
          // Never hand the pool a connection that may still hold the lock: it would refuse every
          // full verify until the connection closed.
          broken = e instanceof Error ? e : new Error(String(e));
        }
      }
    } finally {
      await releaseConnection(qr, broken);
    }
  }

  /** Records a full verify with its signed proof (AuditVerifyTrust believes only records with one). */
  private async recordVerified(m: EntityManager, result: AuditVerifyResult, actor: string): Promise<void> {
    const proof = await this.trust.prove(result);
    await this.events.insertIn(m, {
      type: 'audit.verified',
      outcome: result.status === 'intact' ? 'success' : 'failure',
      reason: result.status === 'intact' ? null : result.problem,
      actor,
      target: 'audit_events',
      details: {
        mode: result.mode,
        status: result.status,
        count: result.count,
        checkpoints: result.checkpoints,
        last_seq: result.status === 'intact' ? result.lastSeq : null,
        ...(result.status === 'broken' ? { first_bad_seq: result.firstBadSeq, problem: result.problem } : {}),
        ...(proof ? { proof } : {}),
      },
    });
  }

  /**
   * The scheduled full verify (BROKER_AUDIT_FULL_VERIFY_HOURS): one instance at a time (a
   * session advisory lock), and not again within the period of the last one this broker recorded
   * (a recorded verify counts only with a proof signed by this broker's key: AuditVerifyTrust).
   * Returns the result, or null when skipped. A skip because another session holds the lock is
   * logged, as an error once the full verify is overdue at `now` (AuditVerifyTrust.fullVerifyOverdue).
   */
  async scheduledFullVerify(now?: Date): Promise<AuditVerifyResult | null> {
    const hours = this.config.fullVerifyHours;
    const outcome = await this.underFullVerifyLock(async (qr) => {
      if (await this.trust.recentFullVerify(qr.manager, hours, now)) return null;
      const result = await this.fullWalk(qr, null, 'system');
      if (result.status === 'broken') {
        this.logger.error(`audit chain broken at seq ${result.firstBadSeq}: ${result.problem}`);
      } else {
        this.logger.log(`audit full verify: ${result.count} events intact`);
      }
      return result;
    });
    if (outcome !== LOCK_HELD) return outcome;
    const overdue = await this.trust.fullVerifyOverdue(now);
    if (overdue) {
      this.logger.error(
        `audit full verify overdue: ${overdueText(overdue)}; the scheduled one skipped again because another session ` +
          `holds the lock broker.audit.full_verify (see pg_locks; the broker's own runtime role can take it and keep it)`,
      );
    } else {
      this.logger.log('audit full verify skipped: another session holds the lock broker.audit.full_verify');
    }
    return null;
  }

  /** Seals what is committed, then signs a checkpoint up to the head (tests, the CLI). */
  async checkpointNow(): Promise<number> {
    await this.sealNow();
    return this.exclusive(() => this.checkpoints.checkpoint(true));
  }

  /**
   * Applies the configured retention (BROKER_AUDIT_RETENTION_DAYS; 0 = keep): removes whole ranges
   * of sealed events older than the cutoff, oldest first, recording per range an
   * `audit.retention_applied` and a signed proof (audit-retention-proof.ts) in the same transaction.
   */
  applyRetention(now: Date = new Date()): Promise<AuditRetentionResult> {
    return this.exclusive(() => this.retain(now));
  }

  private async retain(now: Date): Promise<AuditRetentionResult> {
    const days = this.config.retentionDays;
    if (days <= 0) return { removed: 0, cutoff: null };
    // Never past an event the SIEM stream has not delivered (undeliveredCutoff warns when it holds back).
    const cutoff = await undeliveredCutoff(this.config.stream, this.streamRepo, this.logger, now, days * DAY_MS);
    let removed = 0;
    for (;;) {
      const batch = await this.dataSource.transaction(async (m) => {
        if (!(await this.chainRepo.tryXactLock(m, 'retention'))) return 0;
        return retentionBatch(m, this.chainRepo, this.checkpoints, this.events, {
          cutoff,
          days,
          limit: RETENTION_BATCH,
        });
      });
      removed += batch;
      if (batch < RETENTION_BATCH) break;
    }
    if (removed > 0) {
      this.logger.log(`audit retention removed ${removed} event(s) older than ${cutoff.toISOString()}`);
    }
    return { removed, cutoff };
  }
}

/** underFullVerifyLock's answer when another session holds the lock. */
const LOCK_HELD = Symbol('full verify lock held');

/** Back to the pool; with `error`, pg closes the connection instead (TypeORM's Postgres runner). */
async function releaseConnection(qr: QueryRunner, error: unknown): Promise<void> {
  const pgRunner = qr as QueryRunner & { releasePostgresConnection?: (err?: Error) => Promise<void> };
  if (error instanceof Error && typeof pgRunner.releasePostgresConnection === 'function') {
    await pgRunner.releasePostgresConnection(error);
  } else {
    await qr.release();
  }
}
