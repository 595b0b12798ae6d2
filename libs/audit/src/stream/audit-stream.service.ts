import { auditConfig, type AuditConfig, type AuditStreamConfig } from '@app/config';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { AuditStreamRepository, type AuditStreamCursor } from './audit-stream.repository.js';
import { AuditStreamSender, StreamDeliveryError } from './audit-stream.sender.js';

/** What /health/ready and the metrics say about the stream. */
export interface AuditStreamStatus {
  /** `disabled` (no URL), `delivering` (the last attempt succeeded or none failed yet), `retrying`. */
  state: 'disabled' | 'delivering' | 'retrying';
  format?: AuditStreamConfig['format'];
  /** Origin of the receiver (no path or query: they can hold tokens). */
  destination?: string;
  last_delivered_event_id?: string | null;
  last_delivered_seq?: string;
  delivered_at?: string | null;
  consecutive_failures?: number;
  last_error?: string | null;
  lag_seconds?: number;
}

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
 */
@Injectable()
export class AuditStreamService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditStreamService.name);
  private readonly config: AuditStreamConfig;
  private sender: AuditStreamSender | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private failures = 0;

  constructor(
    private readonly repository: AuditStreamRepository,
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
    if (!sender) return this.config.intervalMs;
    try {
      const sent = await this.repository.withLease(async (m, cursor) => {
        const batch = await this.repository.nextBatch(m, cursor.last_seq, this.config.batchSize);
        const last = batch[batch.length - 1];
        if (!last) return 0;
        try {
          await sender.send(batch);
        } catch (err) {
          if (!(err instanceof StreamDeliveryError)) throw err;
          await this.repository.failed(m, err.message);
          return err.message;
        }
        await this.repository.delivered(m, last);
        return batch.length;
      });
      if (typeof sent === 'string') return this.failed(sent);
      if (this.failures > 0) this.logger.log(`audit stream delivering again after ${this.failures} failed attempts`);
      this.failures = 0;
      // A full batch means more is waiting: go on at once. Nothing (or the lease is elsewhere): wait.
      return sent === this.config.batchSize ? 0 : this.config.intervalMs;
    } catch (err) {
      return this.failed(`database error: ${(err as Error).message}`);
    }
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
    return {
      state: cursor && cursor.consecutive_failures > 0 ? 'retrying' : 'delivering',
      format: this.config.format,
      destination: new URL(this.config.url).origin,
      last_delivered_event_id: cursor?.last_event_id ?? null,
      last_delivered_seq: cursor?.last_seq ?? '0',
      delivered_at: cursor?.delivered_at ?? null,
      consecutive_failures: cursor?.consecutive_failures ?? 0,
      last_error: cursor?.last_error ?? null,
      lag_seconds: await this.repository.lagSeconds(),
    };
  }

  /** Seconds since the oldest event the SIEM has not received (0 when disabled or caught up). */
  lagSeconds(): Promise<number> {
    return this.enabled ? this.repository.lagSeconds() : Promise.resolve(0);
  }
}
