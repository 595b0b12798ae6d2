import { auditConfig, type AuditConfig, type AuditStreamConfig } from '@app/config';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AuditService } from '../audit.service.js';
import { detailsTooDeep } from '../audit-details-bound.js';
import { gapBefore, gapEvent, type StreamGap } from './audit-stream-gap.js';
import { AuditStreamRepository, type AuditStreamCursor } from './audit-stream.repository.js';
import { AuditStreamSender, StreamDeliveryError } from './audit-stream.sender.js';
import { StreamCursorMac, type CursorCheck } from './stream-cursor-mac.js';

/** What /health/ready and the metrics say about the stream. */
export interface AuditStreamStatus {
  /**
   * `disabled` (no URL), `delivering` (the last attempt succeeded or none failed yet), `retrying`,
   * or `tampered`: the cursor was found moved by someone other than the broker, and the events it
   * skipped are not all re-sent yet.
   */
  state: 'disabled' | 'delivering' | 'retrying' | 'tampered';
  format?: AuditStreamConfig['format'];
  /** Origin of the receiver (no path or query: they can hold tokens). */
  destination?: string;
  last_delivered_event_id?: string | null;
  last_delivered_seq?: string;
  delivered_at?: string | null;
  consecutive_failures?: number;
  last_error?: string | null;
  lag_seconds?: number;
  /** When the sender last found the cursor moved by someone else (null: never). */
  cursor_tampered_at?: string | null;
}

type Tampered = Extract<CursorCheck, { verdict: 'tampered' }> & { found: AuditStreamCursor };

/** First retry after this; doubled per consecutive failure up to maxBackoffMs. */
const FIRST_BACKOFF_MS = 250;

/** Exponential backoff with ±20 % jitter, so replicas that failed together do not retry together. */
export function backoffMs(failures: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, FIRST_BACKOFF_MS * 2 ** Math.min(failures - 1, 30));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Streams the audit log to a SIEM (BROKER_AUDIT_STREAM_URL): every sealed event, in chain order,
 * in batches, at least once. Each run takes the cursor row as a lease, reads the next batch after
 * it, posts it, and moves the cursor in the same transaction, so the cursor never passes an event
 * the receiver has not acknowledged, whatever crashes where. Failures back off exponentially.
 * The cursor carries the sender's MAC (StreamCursorMac): one it did not write is never followed.
 */
@Injectable()
export class AuditStreamService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditStreamService.name);
  private readonly config: AuditStreamConfig;
  private sender: AuditStreamSender | null = null;
  private mac: StreamCursorMac | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private failures = 0;
  /**
   * The highest position this process wrote or found signed: delivered, so a signed cursor below
   * it is an older signed row copied back (the MAC covers the position only), not a position to
   * re-send from. Lowered only when this process itself resumes lower after tampering.
   */
  private highest: { seq: bigint; eventId: string | null } | null = null;
  /**
   * The retry bound this process last found signed or wrote, at its position. The MAC covers
   * (position, bound) only, so the "none" signed at a delivery stays valid at that position after
   * a failure there signed a bound: see boundCleared.
   */
  private bound: { seq: bigint; pending: string | null } | null = null;

  constructor(
    private readonly repository: AuditStreamRepository,
    private readonly audit: AuditService,
    @Inject(auditConfig.KEY) config: AuditConfig,
  ) {
    this.config = config.stream;
  }

  get enabled(): boolean {
    return this.config.url !== '';
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.sender = new AuditStreamSender(this.config);
    this.mac = new StreamCursorMac(this.config.secret, this.config.previousSecret);
    this.logger.log(`streaming the audit log (${this.config.format}) to ${new URL(this.config.url).origin}`);
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.sender?.close();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runOnce().then((next) => {
        this.running = null;
        this.schedule(next);
      });
    }, ms);
    this.timer.unref();
  }

  /** One batch; resolves with the delay before the next run (never rejects). */
  async runOnce(): Promise<number> {
    const sender = this.sender;
    const mac = this.mac;
    if (!sender || !mac) return this.config.intervalMs;
    // What the lease found about the cursor, logged once the transaction has committed.
    const found: {
      resigned?: { seq: string; from: 'legacy' | 'previous' };
      tampered?: Tampered;
      /** Seqs of events sent with DETAILS_OMITTED (details beyond the database's bound). */
      omitted?: string[];
      gap?: StreamGap;
      /** The position and retry bound the run leaves, this process's own once committed. */
      next?: { highest: { seq: bigint; eventId: string | null }; bound: { seq: bigint; pending: string | null } };
      /** The retry bound found not signed by the sender, or cleared (dropped and recorded). */
      pendingTampered?: { seq: string; pending: string | null };
    } = {};
    try {
      const sent = await this.repository.withLease(async (m, cursor) => {
        const check = this.rolledBack(cursor, mac.check(cursor));
        let after = cursor.last_seq;
        if (check.verdict === 'legacy' || check.verdict === 'previous') {
          // A position the sender can vouch for, signed before a rotation or by the previous version.
          await this.repository.sign(m, mac.sign(cursor.last_seq, cursor.last_event_id));
          found.resigned = { seq: cursor.last_seq, from: check.verdict };
        } else if (check.verdict === 'tampered') {
          found.tampered = { ...check, found: { ...cursor } };
          await this.resumeAfterTamper(m, found.tampered, mac);
          after = check.resumeAfterSeq;
        }
        const afterEventId = check.verdict === 'tampered' ? check.resumeAfterEventId : cursor.last_event_id;
        // A retry posts exactly the batch that failed, not one grown by events sealed since, so
        // that its Idempotency-Key and body are the same (a pending end behind the cursor is stale).
        let pending = found.tampered ? null : cursor.pending_last_seq;
        const pendingCheck = found.tampered ? null : mac.checkPending(cursor);
        if (pendingCheck === 'previous') {
          // Signed before a rotation: re-signed now, or removing _PREVIOUS would read it as tampering.
          await this.repository.signPending(
            m,
            mac.signPending(cursor.last_seq, cursor.last_event_id, cursor.pending_last_seq),
          );
        }
        if (pendingCheck === 'tampered' || (pendingCheck !== null && this.boundCleared(cursor))) {
          // Someone else set (or cleared) the bound: a batch cut elsewhere may re-post events the
          // SIEM holds under another Idempotency-Key. Never skips (the batch starts after the signed
          // position either way), but not silent: recorded, and replaced by the bound this process
          // knows at this position (the same batch, the same key), else dropped and signed as none.
          found.pendingTampered = { seq: cursor.last_seq, pending: cursor.pending_last_seq };
          pending = this.bound && this.bound.seq === BigInt(after) ? this.bound.pending : null;
          await this.repository.resetTamperedPending(m, pending, mac.signPending(after, afterEventId, pending));
          await this.audit.record(
            {
              type: 'audit.stream_cursor_tampered',
              outcome: 'failure',
              reason: 'pending_batch_tampered',
              actor: 'system',
              target: 'audit_stream_cursor',
              details: { found_seq: cursor.last_seq, found_pending_last_seq: cursor.pending_last_seq },
            },
            m,
          );
        }
        const next: NonNullable<typeof found.next> = {
          highest: { seq: BigInt(after), eventId: afterEventId },
          bound: { seq: BigInt(after), pending },
        };
        found.next = next;
        const upTo = pending !== null && BigInt(pending) > BigInt(after) ? pending : null;
        let batch = await this.repository.nextBatch(m, after, this.config.batchSize, upTo);
        // The failed batch's events were all removed meanwhile (see gapBefore): send what follows.
        if (batch.length === 0 && upTo !== null) {
          batch = await this.repository.nextBatch(m, after, this.config.batchSize);
        }
        const last = batch[batch.length - 1];
        if (!last) return 0;
        for (const r of batch) {
          if (detailsTooDeep(r.details)) {
            found.omitted ??= [];
            found.omitted.push(r.seq ?? r.id);
          }
        }
        try {
          await sender.send(batch);
        } catch (err) {
          if (!(err instanceof StreamDeliveryError)) throw err;
          const end = last.seq ?? after;
          await this.repository.failed(m, err.message, end, mac.signPending(after, afterEventId, end));
          next.bound = { seq: BigInt(after), pending: end };
          return err.message;
        }
        await this.repository.delivered(
          m,
          last,
          mac.sign(last.seq ?? '0', last.id),
          mac.signPending(last.seq ?? '0', last.id, null),
        );
        // Taken as the highest position once committed (below): a failed commit leaves the cursor lower.
        const delivered = { seq: BigInt(last.seq ?? '0'), eventId: last.id };
        found.next = { highest: delivered, bound: { seq: delivered.seq, pending: null } };
        // Recorded with the delivery that passes it, so once (a failed send records nothing). Not
        // after a resume from tampering: that restarts from a vouched position, maybe 0, before
        // events retention removed once delivered.
        found.gap = found.tampered ? undefined : (gapBefore(after, batch[0]) ?? undefined);
        if (found.gap) await this.audit.record(gapEvent(found.gap), m);
        return batch.length;
      });
      // Only once committed: a rolled-back run (a resume from tampering included) changes nothing.
      if (found.next) ({ highest: this.highest, bound: this.bound } = found.next);
      // Logged once committed (a rolled-back run finds the same cursor again and says it then).
      if (found.resigned) {
        const { seq, from } = found.resigned;
        this.logger.log(
          from === 'legacy'
            ? `audit stream: signed the cursor the previous version left at seq ${seq}`
            : `audit stream: re-signed the cursor at seq ${seq} made with BROKER_AUDIT_STREAM_SECRET_PREVIOUS; ` +
                'once every replica runs with the new secret, the previous one can be removed',
        );
      }
      if (found.tampered) this.logTampered(found.tampered);
      if (found.pendingTampered) {
        const { seq, pending } = found.pendingTampered;
        this.logger.error(
          `audit stream cursor tampered with: pending_last_seq found as ${pending ?? 'NULL'} at seq ${seq}, not written by ` +
            'this broker; the retry bound is restored if this process knows it, else dropped (the next batch may then ' +
            'repeat events under another Idempotency-Key, nothing skipped); recorded as audit.stream_cursor_tampered',
        );
      }
      if (typeof sent === 'string') return this.failed(sent);
      if (found.omitted) {
        this.logger.warn(
          `audit stream: sent event(s) at seq ${found.omitted.join(', ')} with their details omitted (nested beyond ` +
            'the bound the database enforces since 1797000017000-BoundAuditDetails; the export has them as recorded)',
        );
      }
      if (found.gap) {
        const { after_seq, next_seq } = found.gap;
        this.logger.error(
          `audit stream: the events after seq ${after_seq} up to ${BigInt(next_seq) - 1n} were removed before the SIEM ` +
            'received them (the stream went on from seq ' +
            `${next_seq}); recorded as audit.stream_gap`,
        );
      }
      if (this.failures > 0) this.logger.log(`audit stream delivering again after ${this.failures} failed attempts`);
      this.failures = 0;
      // A full batch means more is waiting: go on at once. Nothing (or the lease is elsewhere): wait.
      return sent === this.config.batchSize ? 0 : this.config.intervalMs;
    } catch (err) {
      return this.failed(`database error: ${(err as Error).message}`);
    }
  }

  /**
   * A signed cursor below the highest position this process wrote or found signed is an older
   * signed row copied back (the SIEM would get duplicates, and retention would be held back for
   * them): tampering, resumed after that highest position, which was delivered.
   */
  private rolledBack(cursor: AuditStreamCursor, check: CursorCheck): CursorCheck {
    const highest = this.highest;
    if (check.verdict === 'tampered' || !highest || BigInt(cursor.last_seq) >= highest.seq) return check;
    return {
      verdict: 'tampered',
      why: 'cursor_rolled_back',
      resumeAfterSeq: highest.seq.toString(),
      resumeAfterEventId: highest.eventId,
    };
  }

  /**
   * A signed bound this process found or wrote at this position is gone while the position stayed:
   * the "none" MAC of the delivery that reached it, copied back (no sender clears a bound without
   * moving the cursor, but for a tampered one). A process that just started knows no bound yet.
   */
  private boundCleared(cursor: AuditStreamCursor): boolean {
    const b = this.bound;
    return !!b && b.pending !== null && cursor.pending_last_seq === null && BigInt(cursor.last_seq) === b.seq;
  }

  /**
   * The cursor was written by someone else (the runtime database role can UPDATE it): resume from
   * a position the sender can vouch for, never from the one found, and record it in the same
   * transaction. Duplicates follow (the stream is at least once); skipped events do not.
   */
  private async resumeAfterTamper(m: EntityManager, t: Tampered, mac: StreamCursorMac): Promise<void> {
    await this.repository.resumeAfterTamper(m, t.found, {
      seq: t.resumeAfterSeq,
      eventId: t.resumeAfterEventId,
      mac: mac.sign(t.resumeAfterSeq, t.resumeAfterEventId),
      pendingMac: mac.signPending(t.resumeAfterSeq, t.resumeAfterEventId, null),
    });
    await this.audit.record(
      {
        type: 'audit.stream_cursor_tampered',
        outcome: 'failure',
        reason: t.why,
        actor: 'system',
        target: 'audit_stream_cursor',
        details: {
          found_seq: t.found.last_seq,
          found_event_id: t.found.last_event_id,
          resumed_after_seq: t.resumeAfterSeq,
        },
      },
      m,
    );
  }

  private logTampered(t: Tampered): void {
    this.logger.error(
      `audit stream cursor tampered with: found at seq ${t.found.last_seq} (${t.why}), not written by this broker; ` +
        `re-sending the events after seq ${t.resumeAfterSeq} (duplicates possible, nothing skipped); recorded as audit.stream_cursor_tampered`,
    );
  }

  private failed(why: string): number {
    this.failures += 1;
    const delay = backoffMs(this.failures, this.config.maxBackoffMs);
    // One warning when it starts failing, then one per 10 attempts: an outage must not flood the log.
    if (this.failures === 1 || this.failures % 10 === 0) {
      this.logger.warn(`audit stream: ${why} (attempt ${this.failures}); retrying in ${delay} ms`);
    }
    return delay;
  }

  /** The stream's state for /health/ready: read from the cursor row, so any replica reports it. */
  async status(): Promise<AuditStreamStatus> {
    if (!this.enabled) return { state: 'disabled' };
    const cursor: AuditStreamCursor | null = await this.repository.cursor();
    // Tampered until the re-send has passed the position the cursor was moved to.
    const resending =
      !!cursor?.tampered_seq && cursor.tampered_at !== null && BigInt(cursor.last_seq) < BigInt(cursor.tampered_seq);
    return {
      state: resending ? 'tampered' : cursor && cursor.consecutive_failures > 0 ? 'retrying' : 'delivering',
      format: this.config.format,
      destination: new URL(this.config.url).origin,
      last_delivered_event_id: cursor?.last_event_id ?? null,
      last_delivered_seq: cursor?.last_seq ?? '0',
      delivered_at: cursor?.delivered_at ?? null,
      consecutive_failures: cursor?.consecutive_failures ?? 0,
      last_error: cursor?.last_error ?? null,
      lag_seconds: await this.repository.lagSeconds(),
      cursor_tampered_at: cursor?.tampered_at ?? null,
    };
  }

  /** Seconds since the oldest event the SIEM has not received (0 when disabled or caught up). */
  lagSeconds(): Promise<number> {
    return this.enabled ? this.repository.lagSeconds() : Promise.resolve(0);
  }
}
