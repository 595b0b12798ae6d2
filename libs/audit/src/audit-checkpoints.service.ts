import { auditConfig, type AuditConfig } from '@app/config';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { JWK } from 'jose';
import type { DataSource, EntityManager } from 'typeorm';
import { GENESIS_HASH } from './audit-chain.js';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditCheckpointsRepository } from './audit-checkpoints.repository.js';
import { pageLimit } from './audit-filters.js';
import { newestCheckpointFile, tailOf, writeCheckpointFile, type KnownTail } from './audit-checkpoint-files.js';
import { AuditEventsRepository } from './audit-events.repository.js';
import { loadSigningKey, loadTrustedKeys, type AuditSigningKey } from './audit-signing-key.js';
import { newestCheckpointProblem } from './audit-newest-checkpoint.js';
import { CheckpointAlarms, type CheckpointRefusal, type CheckpointsPassedOver } from './audit-checkpoint-alarms.js';
import { passesOverOf, type PassOverPlan } from './audit-checkpoint-pass-over.js';
import {
  checkpointHash,
  signAuditJws,
  signCheckpoint,
  verifyAuditJws,
  type AuditCheckpoint,
  type CheckpointPayload,
  type PassesOver,
} from './audit-verifier.js';
import { CursorCodec, cursorInvalid } from './cursor.js';

/** One page of checkpoints, newest first. */
export interface AuditCheckpointPage {
  data: AuditCheckpoint[];
  next_cursor: string | null;
}

const CURSOR_FINGERPRINT = 'audit-checkpoints';

/** A row of audit_signing_keys whose key this broker does not trust (GET /api/audit/keys, `untrusted`). */
export interface UntrustedSigningKey {
  kid: string;
  /** As stored: anyone with the runtime role can insert a row, so it may not even be a JWK. */
  jwk: unknown;
  trusted: false;
}

/** GET /api/audit/keys. */
export interface AuditSigningKeys {
  /** A JWKS of the trusted keys only: the key in hand and BROKER_AUDIT_TRUSTED_KEYS_FILE. */
  keys: JWK[];
  /**
   * Keys published in audit_signing_keys that are neither, newest first, at most
   * UNTRUSTED_KEYS_LISTED of them; never to be saved as trusted.
   */
  untrusted: UntrustedSigningKey[];
  /** Whether more untrusted rows exist than are listed (the runtime role can insert any number). */
  untrusted_truncated: boolean;
}

/** How many untrusted rows GET /api/audit/keys lists. */
export const UNTRUSTED_KEYS_LISTED = 100;

/** Sealed events waiting for a checkpoint too long: after which seq, and for how long. */
export interface CheckpointsOverdue {
  uncoveredAfterSeq: string;
  waitingSeconds: number;
}

/** A checkpoint problem, as /health/ready details it (`details.audit`) and the console shows it. */
export type CheckpointState =
  | { checkpoints: 'stopped'; checkpointProblem: CheckpointRefusal }
  | { checkpoints: 'overdue'; checkpointsOverdue: CheckpointsOverdue }
  | { checkpoints: 'passed_over'; checkpointsPassedOver: CheckpointsPassedOver };

export type { CheckpointRefusal, CheckpointsPassedOver };

/** Where the next checkpoint chains: onto the newest one (passOver null), or past untrusted ones at the end. */
interface ChainPoint {
  passOver: PassOverPlan | null;
}

/**
 * Signed checkpoints of the chain (issue 14; the idea of CloudTrail's digest files): at least every
 * `checkpointEvery` sealed events or `checkpointIntervalMs`, a JWS over (first and last seq, last
 * hash, previous checkpoint's hash, count, time, key id), signed with a key that is not in the
 * database. Someone who rewrites the database cannot make a matching checkpoint; a copy in
 * BROKER_AUDIT_CHECKPOINT_DIR or with an auditor survives even the deletion of the table.
 */
@Injectable()
export class AuditCheckpointsService implements OnModuleInit {
  private readonly logger = new Logger(AuditCheckpointsService.name);
  private key: AuditSigningKey | null = null;
  /** kid → public JWK: the key in hand and BROKER_AUDIT_TRUSTED_KEYS_FILE; never audit_signing_keys. */
  private readonly trusted = new Map<string, JWK>();
  /** The newest checkpoint this process signed, checked against a trusted key, or found in its folder at start. */
  private tail: KnownTail | null = null;
  private readonly alarms: CheckpointAlarms;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly cursors: CursorCodec,
    @Inject(auditConfig.KEY) private readonly config: AuditConfig,
    private readonly checkpointRepo: AuditCheckpointsRepository,
    private readonly chainRepo: AuditChainRepository,
    private readonly events: AuditEventsRepository,
  ) {
    this.alarms = new CheckpointAlarms(this.logger, (m, input) => this.events.insertIn(m, input));
  }

  /** Loads the key (a missing key in production stops the start) and publishes its public half. */
  async onModuleInit(): Promise<void> {
    const { key, warning } = await loadSigningKey(this.config);
    if (warning) this.logger.warn(warning);
    this.key = key;
    for (const jwk of await loadTrustedKeys(this.config)) this.trusted.set(jwk.kid as string, jwk);
    if (key) {
      this.trusted.set(key.kid, key.publicJwk);
      await this.checkpointRepo.publishSigningKey(key.kid, key.publicJwk);
    }
    this.tail = await newestCheckpointFile(this.config.checkpointDir, (kid) => this.trustedKey(kid), this.logger);
    if (key && !this.tail) await this.warnIfBlind();
  }

  /**
   * Said at start when the database holds checkpoints but this process knows none of them outside
   * it (no BROKER_AUDIT_CHECKPOINT_DIR, or a folder that is new or not shared): until it signs one,
   * it cannot tell whether the newest checkpoints were cut back and the events after them rewritten.
   */
  private async warnIfBlind(): Promise<void> {
    const newest = await this.checkpointRepo.lastCheckpoint(this.dataSource.manager);
    if (!newest) return;
    const where = this.config.checkpointDir
      ? `BROKER_AUDIT_CHECKPOINT_DIR (${this.config.checkpointDir}) holds no checkpoint signed with a trusted key`
      : 'BROKER_AUDIT_CHECKPOINT_DIR is not set';
    this.logger.warn(
      `audit checkpoints: the database holds checkpoints up to seq ${newest.last_seq}, but ${where}: this instance ` +
        'cannot tell whether checkpoints were removed from the end before it started, and signs on from the newest one ' +
        'that is left. Keep the folder on persistent storage that every instance shares',
    );
  }

  /**
   * The public key trusted for `kid`: the key in hand or one from BROKER_AUDIT_TRUSTED_KEYS_FILE.
   * Keys that only audit_signing_keys lists are not: anyone who can write the database can add one
   * there and re-sign every checkpoint with it.
   */
  trustedKey(kid: string | undefined): JWK | undefined {
    return kid === undefined ? undefined : this.trusted.get(kid);
  }

  /**
   * The newest checkpoint this process signed, checked, or found in its folder at start; null when
   * it knows none. The table must still hold it. Read it before a verify's snapshot.
   */
  get knownTail(): KnownTail | null {
    return this.tail ? { ...this.tail } : null;
  }

  /** Whether any key is trusted (the key in hand or BROKER_AUDIT_TRUSTED_KEYS_FILE). */
  get trusting(): boolean {
    return this.trusted.size > 0;
  }

  /**
   * Sealed events have waited for a checkpoint longer than three checkpoint intervals: the
   * checkpoints stalled (stopped by this or another instance, its advisory lock held elsewhere, or
   * its inserts failing), and those events can be rewritten unnoticed. Null when nothing waits that
   * long, and with signing off.
   */
  async overdue(): Promise<CheckpointsOverdue | null> {
    if (!this.key) return null;
    const { head_seq, checkpoint_seq, age_s } = await this.checkpointRepo.coverage();
    const covered = checkpoint_seq === null ? 0n : BigInt(checkpoint_seq);
    if (head_seq === null || BigInt(head_seq) <= covered || age_s === null) return null;
    if (age_s * 1000 <= 3 * this.config.checkpointIntervalMs) return null;
    return { uncoveredAfterSeq: covered.toString(), waitingSeconds: Math.round(age_s) };
  }

  /**
   * What /health/ready and the console show about the checkpoints: stopped here (the newest one is
   * not trusted), else overdue (stalled anywhere), else nothing.
   */
  async state(): Promise<CheckpointState | null> {
    const refused = this.refused;
    if (refused) return { checkpoints: 'stopped', checkpointProblem: refused };
    const overdue = await this.overdue();
    if (overdue) return { checkpoints: 'overdue', checkpointsOverdue: overdue };
    const passed = this.alarms.shown;
    return passed ? { checkpoints: 'passed_over', checkpointsPassedOver: passed } : null;
  }

  /** Set while the broker refuses to sign on top of the newest checkpoint (see checkpoint()). */
  get refused(): CheckpointRefusal | null {
    return this.alarms.refused;
  }

  get signing(): boolean {
    return this.key !== null;
  }

  /** A JWS of type `typ` over `payload` (plus this key's kid) with the key in hand; null when signing is off. */
  async signOwn(payload: Record<string, unknown>, typ: string): Promise<string | null> {
    const key = this.key;
    return key ? signAuditJws({ ...payload, kid: key.kid }, key, typ) : null;
  }

  /**
   * The payload of a `typ` JWS that the key in hand signed; null otherwise, and always null when
   * signing is off. Only the key this broker holds counts, never the keys published in
   * audit_signing_keys (the runtime role can insert there).
   */
  async verifyOwn(jws: unknown, typ: string): Promise<Record<string, unknown> | null> {
    const key = this.key;
    if (!key || typeof jws !== 'string') return null;
    const payload = await verifyAuditJws(jws, key.publicJwk, typ);
    return payload && payload.kid === key.kid ? payload : null;
  }

  /**
   * Signs the checkpoints that are due: one per `checkpointEvery` sealed events, then one up to the
   * head when the last is older than the interval (or always, with `force`). Returns how many.
   * Several instances take turns through an advisory lock.
   */
  async checkpoint(force = false): Promise<number> {
    const key = this.key;
    if (!key) return 0;
    const made: AuditCheckpoint[] = [];
    await this.dataSource.transaction(async (m) => {
      if (!(await this.chainRepo.tryXactLock(m, 'checkpoint'))) return;
      const last = await this.checkpointRepo.lastCheckpoint(m);
      const point = await this.mayChainOnto(m, last);
      if (!point) return;
      const head = await this.chainRepo.chainHead(m);
      if (!head) return;
      const headSeq = BigInt(head.last_seq);
      if (!last && headSeq >= 1n) await this.recordStart(m, headSeq, key.kid);
      let from = last ? BigInt(last.last_seq) + 1n : 1n;
      let prev = last ? checkpointHash(last.jws) : GENESIS_HASH;
      const every = BigInt(this.config.checkpointEvery);
      const sign = async (to: bigint, hash: string, passesOver?: PassesOver) => {
        const cp = await this.insert(m, key, from, to, hash, prev, passesOver);
        made.push(cp);
        prev = checkpointHash(cp.jws);
        from = to + 1n;
      };
      if (point.passOver) {
        // One checkpoint up to the head, which continues the junk in the table (the database's
        // rule) but vouches only for the trusted one before it. The junk may end at the head
        // (never after it): then the next round, once the alarm itself is sealed.
        if (headSeq >= from) await sign(headSeq, head.last_hash, passesOverOf(point.passOver));
        return;
      }
      while (headSeq - from + 1n >= every) {
        const to = from + every - 1n;
        const hash = await this.chainRepo.hashAtSeq(m, to);
        // Removed by retention in the meantime: the checkpoint up to the head covers it.
        if (hash === undefined) break;
        await sign(to, hash);
      }
      const due = force || !last || last.age_ms >= this.config.checkpointIntervalMs || made.length > 0;
      if (headSeq >= from && due) await sign(headSeq, head.last_hash);
    });
    const newest = made[made.length - 1];
    if (newest) this.tail = tailOf(newest);
    for (const cp of made) writeCheckpointFile(this.config.checkpointDir, cp, this.logger);
    return made.length;
  }

  /**
   * Where a new checkpoint may chain (null: nowhere). Its signature vouches, through the chain of
   * checkpoint hashes, for everything before it, so `last` (the newest; undefined when there is
   * none) must pass newestCheckpointProblem(). When `last` is junk appended at the end (a signature
   * or key this broker cannot verify: the runtime role can append any row there), the new one
   * passes over it onto the newest trusted checkpoint (passOverPlan), with one error in the log and
   * one `audit.checkpoint_passed_over` event per newest junk row. Otherwise (checkpoints removed or
   * replaced) nothing is signed until it passes: one error and one `audit.checkpoint_untrusted`
   * event per problem, and `refused` says why.
   */
  private async mayChainOnto(m: EntityManager, last: AuditCheckpoint | undefined): Promise<ChainPoint | null> {
    const ctx = {
      tail: this.tail,
      trustedKey: (kid: string | undefined) => this.trustedKey(kid),
      jwsFrom: (lastSeq: bigint) => this.checkpointRepo.jwsFrom(m, lastSeq),
    };
    const found = await newestCheckpointProblem(last, ctx);
    if (found === null) {
      if (last) this.tail = tailOf(last);
      this.alarms.resumed();
      return { passOver: null };
    }
    const plan = last
      ? await this.alarms.plan(m, last, found, ctx, (below, limit) =>
          this.checkpointRepo.checkpointPage(limit, below, m),
        )
      : null;
    if (plan) {
      this.tail = tailOf(plan.after);
      this.alarms.resumed();
      return { passOver: plan };
    }
    await this.alarms.stop(m, last, found);
    return null;
  }

  /**
   * The checkpoints start from the beginning of the chain, over events sealed before: normal once
   * (the first start, signing turned on, the upgrade that brought checkpoints), but also what a
   * broker restarted without BROKER_AUDIT_CHECKPOINT_DIR does after the table was emptied, signing
   * whatever the chain then holds. An `audit.checkpoints_started` event (streamed, OCSF severity
   * Medium) with the time of the oldest event lets a SIEM rule tell the two apart.
   */
  private async recordStart(m: EntityManager, headSeq: bigint, kid: string): Promise<void> {
    const oldest = await this.checkpointRepo.oldestSealedAt(m);
    this.logger.log(
      `audit checkpoints start at the beginning of the chain (up to seq ${headSeq}, oldest event ${oldest ?? '?'}); recorded as audit.checkpoints_started`,
    );
    await this.events.insertIn(m, {
      type: 'audit.checkpoints_started',
      outcome: 'success',
      actor: 'system',
      target: 'audit_checkpoints',
      details: { first_seq: '1', head_seq: headSeq.toString(), oldest_event_at: oldest ?? null, kid },
    });
  }

  private async insert(
    m: EntityManager,
    key: AuditSigningKey,
    from: bigint,
    to: bigint,
    lastHash: string,
    prev: string,
    passesOver?: PassesOver,
  ): Promise<AuditCheckpoint> {
    const payload: CheckpointPayload = {
      v: 1 as const,
      first_seq: from.toString(),
      last_seq: to.toString(),
      last_hash: lastHash,
      prev_checkpoint_hash: prev,
      count: (to - from + 1n).toString(),
      time: new Date().toISOString(),
      kid: key.kid,
      ...(passesOver ? { passes_over: passesOver } : {}),
    };
    const jws = await signCheckpoint(payload, key);
    const row = await this.checkpointRepo.insertCheckpoint(m, [
      payload.first_seq,
      payload.last_seq,
      lastHash,
      prev,
      payload.count,
      key.kid,
      jws,
    ]);
    if (!row) throw new Error('audit: the checkpoint insert returned nothing');
    return row;
  }

  /** Every checkpoint, oldest first (verification). */
  all(m: EntityManager | DataSource = this.dataSource): Promise<AuditCheckpoint[]> {
    return this.checkpointRepo.allCheckpoints(m);
  }

  /** A page of checkpoints, newest first (keyset on last_seq). */
  async list(input: { limit?: string; cursor?: string }): Promise<AuditCheckpointPage> {
    const limit = pageLimit(input.limit);
    const before = input.cursor ? this.cursors.decode(input.cursor, CURSOR_FINGERPRINT, ['seq']).seq : null;
    if (before !== null && !/^\d{1,19}$/.test(before)) throw cursorInvalid('cursor');
    const rows = await this.checkpointRepo.checkpointPage(limit + 1, before);
    const more = rows.length > limit;
    const data = more ? rows.slice(0, limit) : rows;
    const last = data[data.length - 1];
    return {
      data,
      next_cursor: more && last ? this.cursors.encode({ seq: last.last_seq }, CURSOR_FINGERPRINT) : null,
    };
  }

  /**
   * GET /api/audit/keys: `keys` is a JWKS of only the keys this broker trusts (the key in hand and
   * BROKER_AUDIT_TRUSTED_KEYS_FILE), so that saving it as a trusted file or an auditor's keys.json
   * can never carry a key that is only listed in audit_signing_keys: the runtime role can insert
   * one there, and a history re-signed with it would then verify. Such rows are listed apart, in
   * `untrusted`, for an operator to see (an unexpected one is a sign of a compromise).
   */
  async keys(m: EntityManager | DataSource = this.dataSource): Promise<AuditSigningKeys> {
    // The trusted keys come from the key in hand and the trusted file, never from the table.
    const keys = [...this.trusted.values()];
    const trustedKids = [...this.trusted.keys()];
    const { rows, more } = await this.checkpointRepo.untrustedKeys(trustedKids, UNTRUSTED_KEYS_LISTED, m);
    const untrusted: UntrustedSigningKey[] = rows.map((row) => ({ kid: row.kid, jwk: row.jwk, trusted: false }));
    return { keys, untrusted, untrusted_truncated: more };
  }

  /**
   * The keys online verify checks each checkpoint's signature with: the trusted ones and every JWK
   * published in audit_signing_keys (retired keys whose trusted file was removed after the
   * rotation). Safe for that use only: verify also requires the newest checkpoint to be signed
   * with a trusted key (untrustedNewest), which vouches for every older one through the chain of
   * checkpoint hashes. Never hand these out as trusted.
   */
  async verificationKeys(m: EntityManager | DataSource = this.dataSource): Promise<JWK[]> {
    const rows = await this.checkpointRepo.checkpointKeys(m);
    // The key in hand and the configured trusted keys are authoritative for their kids.
    // A row that is not a JWK (the runtime role can insert there) is left out, not a failure.
    const keys = rows
      .filter((r) => r.jwk !== null && typeof r.jwk === 'object' && typeof r.jwk.kid === 'string')
      .map((r) => this.trustedKey(r.jwk.kid) ?? r.jwk);
    for (const jwk of this.trusted.values()) if (!keys.includes(jwk)) keys.push(jwk);
    return keys;
  }
}
