import { auditConfig, type AuditConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Readable } from 'node:stream';
import type { EntityManager } from 'typeorm';
import {
  AuditChainService,
  type AuditRetentionResult,
  type AuditVerifyRange,
  type AuditVerifyResult,
} from './audit-chain.service.js';
import {
  AuditCheckpointsService,
  type AuditCheckpointPage,
  type AuditSigningKeys,
  type CheckpointState,
} from './audit-checkpoints.service.js';
import type { AuditEventInput } from './audit-event.js';
import { presentable } from './audit-details-bound.js';
import type { AuditProtection } from './audit-protection.js';
import type { AuditExportFormat } from './export/audit-export-format.js';
import { batchStream, copyExportStream } from './export/audit-export-stream.js';
import { AuditEventsRepository } from './audit-events.repository.js';
import { invalid, parseAuditFilters, type AuditFilters, type AuditQueryInput } from './audit-filters.js';
import type { AuditEventRecord } from './audit-record.js';
import { AuditVerifyTrust, type FullVerifyState, type RecordedFullVerify } from './audit-verify-trust.js';
import { CursorCodec } from './cursor.js';

/**
 * A verify result with the database protection level (issue 14), and after a routine or range
 * verify, `fullVerify: 'overdue'` while no full verify has completed for too long.
 */
export type AuditVerifyReport = AuditVerifyResult & {
  protection: 'strong' | 'weak';
  protectionReason?: string;
} & Partial<FullVerifyState>;

/** The sealer as /health/ready details it (`details.audit_sealer`). */
export interface AuditSealerState {
  /** `stalled`: the oldest unsealed event has waited longer than `stalledAfterSeconds`. */
  state: 'ok' | 'stalled';
  /** Seconds the oldest unsealed event has waited (0 when none waits). */
  oldestUnsealedSeconds: number;
  /** BROKER_AUDIT_SEALER_STALLED_SECONDS. */
  stalledAfterSeconds: number;
}

/** One page of events, newest first unless `order=asc`. */
export interface AuditEventPage {
  data: AuditEventRecord[];
  /** Pass as `cursor` for the next page; null when there is none. */
  next_cursor: string | null;
}

const EXPORT_BATCH = 5000;
const EXPORT_PROGRESS_EVERY = 100_000;

/**
 * The audit log: the one way to write an event (record), and the reads security teams use
 * (query, export, verify). Sealing and retention run in AuditChainService; the SQL is in
 * audit-events.repository.ts.
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);
  private utf8Copy: Promise<boolean> | null = null;

  constructor(
    private readonly events: AuditEventsRepository,
    private readonly chain: AuditChainService,
    private readonly cursors: CursorCodec,
    private readonly checkpointsService: AuditCheckpointsService,
    private readonly verifyTrust: AuditVerifyTrust,
    @Inject(auditConfig.KEY) private readonly config: AuditConfig,
  ) {}

  /**
   * Writes one event with one INSERT (one round trip); never waits for the sealer. Pass the
   * caller's transactional `manager` to write the event atomically with the change it records.
   * Secret-looking keys in `details` are masked and email addresses removed.
   */
  record(input: AuditEventInput, manager?: EntityManager): Promise<{ id: string }> {
    // On its own (every login): a prepared statement on the pool, no QueryRunner.
    return manager ? this.events.insertIn(manager, input) : this.events.insertPrepared(input);
  }

  /**
   * A page of matching events (keyset on id, never OFFSET). Bad filters: `validation_failed`.
   * Details nested beyond the database's bound are replaced by DETAILS_OMITTED (audit-details-bound.ts).
   */
  async query(input: AuditQueryInput): Promise<AuditEventPage> {
    const filters = parseAuditFilters(input, { cursors: this.cursors });
    const rows = await this.fetch(filters, filters.afterId, filters.limit + 1);
    const more = rows.length > filters.limit;
    // Details nested beyond the database's bound (rows from before it) as DETAILS_OMITTED: Express
    // writes the page with JSON.stringify, which throws on them (HTTP 500 for the whole page).
    const data = (more ? rows.slice(0, filters.limit) : rows).map((r) => presentable(r));
    const last = data[data.length - 1];
    let nextId: string | null = more && last ? last.id : null;
    // Polling mode (as Okta's System Log): ascending without `until` always offers a next page,
    // so a SIEM can keep tailing the log from where it stopped.
    if (!nextId && filters.order === 'asc' && !filters.until) {
      nextId = last?.id ?? filters.afterId ?? '0';
    }
    return { data, next_cursor: nextId === null ? null : this.cursors.encode({ id: nextId }, filters.fingerprint) };
  }

  /**
   * Every matching event as NDJSON or CSV, streamed in keyset batches of 5,000 (constant memory),
   * logging progress every 100k rows. `format`: `ndjson` or `csv` (else `validation_failed`);
   * `limit` and `cursor` do not apply. Each batch is one `COPY … (FORMAT binary)` encoded by
   * ExportEncoder (the same bytes as ndjsonLine/csvLine of the records `query` returns).
   */
  async exportEvents(input: AuditQueryInput, format: string): Promise<Readable> {
    if (format !== 'ndjson' && format !== 'csv') throw invalid('format', 'expected ndjson or csv');
    const filters = parseAuditFilters({ ...input, limit: undefined, cursor: undefined });
    const started = Date.now();
    const onProgress = (rows: number) =>
      this.logger.log(
        `audit export (${format}): ${rows} rows streamed in ${Math.round((Date.now() - started) / 1000)} s`,
      );
    if (!(await this.binaryCopyIsUtf8())) return this.exportRecords(filters, format, onProgress);
    return copyExportStream({
      format,
      batchSize: EXPORT_BATCH,
      copy: (afterId, onData) => this.events.copyBatch(filters, afterId, EXPORT_BATCH, onData),
      progressEvery: EXPORT_PROGRESS_EVERY,
      onProgress,
    });
  }

  /** The export from AuditEventRecord rows (the reference encoding); see binaryCopyIsUtf8. */
  private async exportRecords(
    filters: AuditFilters,
    format: AuditExportFormat,
    onProgress: (rows: number) => void,
  ): Promise<Readable> {
    const first = await this.fetch(filters, null, EXPORT_BATCH);
    return batchStream({
      format,
      first,
      batchSize: EXPORT_BATCH,
      next: (last) => this.fetch(filters, last.id, EXPORT_BATCH),
      progressEvery: EXPORT_PROGRESS_EVERY,
      onProgress,
    });
  }

  /**
   * COPY's binary text is the database's bytes as they are when the server encoding is
   * SQL_ASCII (no conversion, so not necessarily UTF-8), where pg would have replaced invalid
   * sequences: such a database is exported from records instead. Asked once.
   */
  private binaryCopyIsUtf8(): Promise<boolean> {
    this.utf8Copy ??= this.events.serverEncoding().then(
      (encoding) => encoding !== 'SQL_ASCII',
      (err: unknown) => {
        this.utf8Copy = null;
        throw err;
      },
    );
    return this.utf8Copy;
  }

  private fetch(filters: AuditFilters, afterId: string | null, limit: number): Promise<AuditEventRecord[]> {
    return this.events.select(filters, afterId, limit);
  }

  /**
   * Recomputes the hash chain over the whole log (`mode: full`, default), what was added since the
   * last full verify plus a sample (`routine`), or an id range; with `recordAs`, a full verify's
   * result is recorded as `audit.verified` by that actor. Also says how well the database
   * protects the log from the broker's own role (`protection`, with `protectionReason` when weak).
   */
  async verify(range: AuditVerifyRange = {}, options: { recordAs?: string } = {}): Promise<AuditVerifyReport> {
    const [result, p] = await Promise.all([this.chain.verify(range, options), this.chain.protection()]);
    // A full verify that just completed is not overdue; a routine or range one says so when it is.
    const overdue = result.mode === 'full' ? null : await this.fullVerifyState();
    return { ...result, protection: p.protection, ...(p.reason ? { protectionReason: p.reason } : {}), ...overdue };
  }

  /**
   * For /health/ready, the console and the verify API: `overdue` when no full verify this broker
   * trusts has completed for three scheduled periods (BROKER_AUDIT_FULL_VERIFY_HOURS), e.g. because
   * someone holds its lock; null normally. `now` for tests.
   */
  async fullVerifyState(now?: Date): Promise<FullVerifyState | null> {
    const overdue = await this.verifyTrust.fullVerifyOverdue(now);
    return overdue ? { fullVerify: 'overdue', fullVerifyOverdue: overdue } : null;
  }

  /**
   * The newest recorded full verify (`audit.verified`, from any replica) and whether this broker
   * trusts it: only a record carrying a proof signed with this broker's key, whose last seq still
   * has the signed hash (anyone with the runtime role can insert such an event).
   */
  lastFullVerify(): Promise<RecordedFullVerify | null> {
    return this.verifyTrust.lastFullVerify();
  }

  /**
   * Erasure: deletes the developer's IP addresses and user agents from the log (kept outside the
   * chained record, so the chain still verifies). Pass the erasing transaction's manager.
   */
  async erasePersonalData(developerId: string, manager?: EntityManager): Promise<number> {
    return this.events.erasePersonal(developerId, manager);
  }

  /** Seals what is committed and signs a checkpoint up to the head now. */
  checkpointNow(): Promise<number> {
    return this.chain.checkpointNow();
  }

  /** Signed checkpoints, newest first, in keyset pages. */
  checkpoints(input: { limit?: string; cursor?: string }): Promise<AuditCheckpointPage> {
    return this.checkpointsService.list(input);
  }

  /** The trusted checkpoint signing keys as a JWKS, and the untrusted rows of audit_signing_keys apart. */
  signingKeys(): Promise<AuditSigningKeys> {
    return this.checkpointsService.keys();
  }

  /**
   * For /health/ready and the console: `stopped` with the reason when this broker signs no more
   * checkpoints (the newest one is not trusted: re-signed, forged or cut outside the broker, or the
   * previous key is not configured after a rotation), else `overdue` when sealed events have waited
   * for one longer than three checkpoint intervals; null normally.
   */
  checkpointState(): Promise<CheckpointState | null> {
    return this.checkpointsService.state();
  }

  /** Whether the database role could rewrite the log; for /health/ready. */
  protection(): Promise<AuditProtection> {
    return this.chain.protection();
  }

  /** Seals every committed, unsealed event now (tests; the background sealer does it anyway). */
  sealNow(): Promise<number> {
    return this.chain.sealNow();
  }

  /** Age in seconds of the oldest unsealed event, for metrics. */
  sealingLagSeconds(): Promise<number> {
    return this.chain.sealingLagSeconds();
  }

  /**
   * For /health/ready: `stalled` once the oldest unsealed event is older than
   * BROKER_AUDIT_SEALER_STALLED_SECONDS (its lock held elsewhere, the owner's seal function failing,
   * no instance running the sealer). One index probe, cheap enough for every probe.
   */
  async sealerState(): Promise<AuditSealerState> {
    const age = await this.chain.sealingLagSeconds();
    const stalledAfterSeconds = this.config.sealerStalledSeconds;
    return {
      state: age > stalledAfterSeconds ? 'stalled' : 'ok',
      oldestUnsealedSeconds: Math.floor(age),
      stalledAfterSeconds,
    };
  }

  /** Applies config.audit.retentionDays now (also runs hourly in the background). */
  applyRetention(now?: Date): Promise<AuditRetentionResult> {
    return this.chain.applyRetention(now);
  }
}
