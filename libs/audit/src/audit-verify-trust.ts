import { randomBytes } from 'node:crypto';
import { auditConfig, type AuditConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { AuditVerifyResult } from './audit-chain-verify.js';
import { AuditChainRepository, type FullVerifyRecord } from './audit-chain.repository.js';
import { AuditCheckpointsService } from './audit-checkpoints.service.js';

/** The JWS type of a recorded full verify's proof (distinct from a checkpoint's). */
export const VERIFIED_JWS_TYPE = 'broker-audit-verified+json';

/** What a recorded full verify's proof signs (canonical JSON). */
export interface VerifiedProofPayload {
  v: 1;
  mode: 'full';
  status: 'intact' | 'broken';
  /** The last seq the verify covered and the hash there (null when broken). */
  last_seq: string | null;
  last_hash: string | null;
  /** When this broker made it (its own clock), and a fresh nonce: a proof is never made twice. */
  time: string;
  nonce: string;
  kid: string;
}

/** The newest recorded full verify as the console shows it: `trusted` when it carries this broker's proof. */
export interface RecordedFullVerify {
  at: Date;
  status: string;
  trusted: boolean;
}

/** A full verify is overdue when none completed for this many scheduled periods (as checkpoints: three intervals). */
export const FULL_VERIFY_OVERDUE_PERIODS = 3;

/**
 * No full verify has completed for longer than FULL_VERIFY_OVERDUE_PERIODS ×
 * BROKER_AUDIT_FULL_VERIFY_HOURS: its lock held elsewhere (by another session, maybe on purpose),
 * every attempt failing, or no instance running the schedule.
 */
export interface FullVerifyOverdue {
  /** When the newest full verify this broker trusts completed (its signed time); null when none did. */
  lastCompletedAt: string | null;
  /** Since then (or, when none completed, since the oldest retained event was recorded). */
  waitingSeconds: number;
  /** The bound that was passed, in hours. */
  limitHours: number;
}

/** As /health/ready details it (`details.audit`), the verify API reports it and the console shows it. */
export interface FullVerifyState {
  fullVerify: 'overdue';
  fullVerifyOverdue: FullVerifyOverdue;
}

/** For the log and error messages. */
export function overdueText(o: FullVerifyOverdue): string {
  const hours = Math.floor(o.waitingSeconds / 3600);
  return o.lastCompletedAt
    ? `none has completed since ${o.lastCompletedAt} (${hours} h, more than ${o.limitHours} h)`
    : `none has completed for the ${hours} h since the oldest retained event (more than ${o.limitHours} h)`;
}

/** How many recorded verifies are looked at, newest first, before giving up (forged ones may crowd them). */
const CANDIDATES = 20;
/** Events already warned about (bounded; a warning is logged once per event). */
const MAX_WARNED = 1000;
const HOUR_MS = 60 * 60 * 1000;
/** A full verify younger than this share of BROKER_AUDIT_FULL_VERIFY_HOURS skips the scheduled one. */
const RECENT_SHARE = 0.9;

/**
 * Which recorded full verifies (`audit.verified`) the broker believes. Anyone holding the runtime
 * database role can insert such an event; believing it would let them silence the scheduled full
 * verify and narrow every routine verify to the newest events, hiding an earlier rewrite by the
 * owner. So each full verify the broker records carries a proof: a JWS with the audit signing key
 * over mode, status, last seq and the hash there, time and a nonce. A record counts only when that
 * proof verifies against the key this broker holds (not the keys in audit_signing_keys, which the
 * runtime role can insert), says what the record says, and its last seq still has the signed
 * hash. Without a signing key (BROKER_AUDIT_SIGNING=off) no record counts: the scheduled full
 * verify always runs and a routine verify covers the whole log.
 */
@Injectable()
export class AuditVerifyTrust {
  private readonly logger = new Logger(AuditVerifyTrust.name);
  private readonly warned = new Set<string>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly checkpoints: AuditCheckpointsService,
    private readonly chainRepo: AuditChainRepository,
    @Inject(auditConfig.KEY) private readonly config: AuditConfig,
  ) {}

  /** The proof to record with a full verify's result; null when signing is off. */
  prove(result: AuditVerifyResult): Promise<string | null> {
    const intact = result.status === 'intact';
    return this.checkpoints.signOwn(
      {
        v: 1,
        mode: 'full',
        status: result.status,
        last_seq: intact ? result.lastSeq : null,
        last_hash: intact ? result.lastHash : null,
        time: new Date().toISOString(),
        nonce: randomBytes(16).toString('base64url'),
      },
      VERIFIED_JWS_TYPE,
    );
  }

  /**
   * Whether this broker recorded a full verify (intact or broken) recently enough that the
   * scheduled one, due every `hours`, skips at `now`: within 90 % of the period. The timer ticks
   * every period and the previous run's proof is dated a little after its own tick (the walk takes
   * time), so "within the whole period" would make every other tick skip and verify only every
   * second period on a single instance.
   */
  async recentFullVerify(m: EntityManager, hours: number, now: Date = new Date()): Promise<boolean> {
    if (!this.checkpoints.signing) return false;
    const since = now.getTime() - RECENT_SHARE * hours * HOUR_MS;
    for (const record of await this.chainRepo.fullVerifyRecords(m, { withinHours: hours }, CANDIDATES)) {
      const proof = await this.trusted(m, record);
      // An older proof copied into a new event is not a recent verify.
      if (proof && Date.parse(proof.time) > since) return true;
    }
    return false;
  }

  /** The last seq of the newest intact full verify this broker recorded, whose hash is unchanged. */
  async lastIntactFullVerifySeq(m: EntityManager): Promise<string | null> {
    if (!this.checkpoints.signing) return null;
    for (const record of await this.chainRepo.fullVerifyRecords(m, { intactOnly: true }, CANDIDATES)) {
      const proof = await this.trusted(m, record);
      if (proof?.status === 'intact' && proof.last_seq !== null) return proof.last_seq;
    }
    return null;
  }

  /**
   * When the newest full verify (intact or broken) this broker can vouch for completed: the signed
   * `time` of the newest record whose proof holds (a proof copied into a newer record keeps its
   * time). With signing off no proof exists, so it is the newest record's `occurred_at`, which
   * anyone with the runtime role can fake by inserting one (`trusted: false`). Null when none.
   */
  async lastCompletedFullVerify(m: EntityManager): Promise<{ at: Date; trusted: boolean } | null> {
    if (!this.checkpoints.signing) {
      const [record] = await this.chainRepo.fullVerifyRecords(m, {}, 1);
      return record ? { at: new Date(record.occurred_at), trusted: false } : null;
    }
    for (const record of await this.chainRepo.fullVerifyRecords(m, {}, CANDIDATES)) {
      const proof = await this.trusted(m, record);
      if (proof) return { at: new Date(proof.time), trusted: true };
    }
    return null;
  }

  /**
   * Whether the full verify is overdue at `now` (tests pass a later time): no full verify this
   * broker trusts completed within FULL_VERIFY_OVERDUE_PERIODS scheduled periods. Whoever holds the
   * lock `broker.audit.full_verify` (the runtime role can take it and keep it) makes every full
   * verify skip or answer 409; this is how that gets noticed. When none ever completed, the log
   * counts as waiting since its oldest retained event. Null when not overdue, and when the
   * schedule is off (BROKER_AUDIT_FULL_VERIFY_HOURS=0).
   */
  async fullVerifyOverdue(now: Date = new Date()): Promise<FullVerifyOverdue | null> {
    const hours = this.config.fullVerifyHours;
    if (hours <= 0) return null;
    const m = this.dataSource.manager;
    const last = await this.lastCompletedFullVerify(m);
    const since = last?.at ?? (await this.chainRepo.oldestEventAt(m));
    if (!since) return null;
    const limitHours = FULL_VERIFY_OVERDUE_PERIODS * hours;
    const waitingMs = now.getTime() - since.getTime();
    if (waitingMs <= limitHours * HOUR_MS) return null;
    return {
      lastCompletedAt: last ? last.at.toISOString() : null,
      waitingSeconds: Math.round(waitingMs / 1000),
      limitHours,
    };
  }

  /**
   * The newest recorded full verify, from any replica, and whether this broker trusts it (the
   * console shows it; a forged one must not pass for a verify).
   */
  async lastFullVerify(m: EntityManager = this.dataSource.manager): Promise<RecordedFullVerify | null> {
    const [record] = await this.chainRepo.fullVerifyRecords(m, {}, 1);
    if (!record) return null;
    const status = record.details?.status;
    return {
      at: record.occurred_at,
      status: typeof status === 'string' ? status : 'unknown',
      trusted: this.checkpoints.signing && (await this.trusted(m, record)) !== null,
    };
  }

  /** The record's proof when it holds; null (and one warning per event) when it does not. */
  private async trusted(m: EntityManager, record: FullVerifyRecord): Promise<VerifiedProofPayload | null> {
    const details = record.details ?? {};
    const p = (await this.checkpoints.verifyOwn(details.proof, VERIFIED_JWS_TYPE)) as VerifiedProofPayload | null;
    let reason: string | null = null;
    if (!p) {
      reason = "it carries no proof signed with this broker's audit signing key";
    } else if (
      p.v !== 1 ||
      p.mode !== 'full' ||
      p.mode !== details.mode ||
      p.status !== details.status ||
      (p.last_seq ?? null) !== (details.last_seq ?? null) ||
      typeof p.time !== 'string' ||
      Number.isNaN(Date.parse(p.time))
    ) {
      reason = 'it differs from its signed proof';
    } else if (p.status === 'intact') {
      if (typeof p.last_seq !== 'string' || !/^\d{1,19}$/.test(p.last_seq) || typeof p.last_hash !== 'string') {
        reason = 'its signed proof names no chain position';
      } else if ((await this.chainRepo.hashAtSeq(m, BigInt(p.last_seq))) !== p.last_hash) {
        reason = `the event at seq ${p.last_seq} no longer has the hash it verified`;
      }
    }
    if (reason === null) return p;
    this.warnOnce(record.id, reason);
    return null;
  }

  private warnOnce(id: string, reason: string): void {
    if (this.warned.has(id)) return;
    if (this.warned.size >= MAX_WARNED) this.warned.clear();
    this.warned.add(id);
    this.logger.warn(
      `audit: the recorded full verify (audit.verified event ${id}) is not trusted: ${reason}; the scheduled full verify is not skipped for it and routine verifies do not start after it`,
    );
  }
}
