import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { auditConfig, type AuditConfig } from '@app/config';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { JWK } from 'jose';
import type { DataSource, EntityManager } from 'typeorm';
import { GENESIS_HASH } from './audit-chain.js';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditCheckpointsRepository } from './audit-checkpoints.repository.js';
import { pageLimit } from './audit-filters.js';
import { loadSigningKey, type AuditSigningKey } from './audit-signing-key.js';
import {
  checkpointHash,
  signAuditJws,
  signCheckpoint,
  verifyAuditJws,
  type AuditCheckpoint,
} from './audit-verifier.js';
import { CursorCodec, cursorInvalid } from './cursor.js';

/** One page of checkpoints, newest first. */
export interface AuditCheckpointPage {
  data: AuditCheckpoint[];
  next_cursor: string | null;
}

const CURSOR_FINGERPRINT = 'audit-checkpoints';

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

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly cursors: CursorCodec,
    @Inject(auditConfig.KEY) private readonly config: AuditConfig,
    private readonly checkpointRepo: AuditCheckpointsRepository,
    private readonly chainRepo: AuditChainRepository,
  ) {}

  /** Loads the key (a missing key in production stops the start) and publishes its public half. */
  async onModuleInit(): Promise<void> {
    const { key, warning } = await loadSigningKey(this.config);
    if (warning) this.logger.warn(warning);
    this.key = key;
    if (key) {
      await this.checkpointRepo.publishSigningKey(key.kid, key.publicJwk);
    }
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
      const head = await this.chainRepo.chainHead(m);
      if (!head) return;
      const headSeq = BigInt(head.last_seq);
      let from = last ? BigInt(last.last_seq) + 1n : 1n;
      let prev = last ? checkpointHash(last.jws) : GENESIS_HASH;
      const every = BigInt(this.config.checkpointEvery);
      const sign = async (to: bigint, hash: string) => {
        const cp = await this.insert(m, key, from, to, hash, prev);
        made.push(cp);
        prev = checkpointHash(cp.jws);
        from = to + 1n;
      };
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
    for (const cp of made) this.writeFile(cp);
    return made.length;
  }

  private async insert(
    m: EntityManager,
    key: AuditSigningKey,
    from: bigint,
    to: bigint,
    lastHash: string,
    prev: string,
  ): Promise<AuditCheckpoint> {
    const payload = {
      v: 1 as const,
      first_seq: from.toString(),
      last_seq: to.toString(),
      last_hash: lastHash,
      prev_checkpoint_hash: prev,
      count: (to - from + 1n).toString(),
      time: new Date().toISOString(),
      kid: key.kid,
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

  /** A copy outside the database (BROKER_AUDIT_CHECKPOINT_DIR); failures are logged, not fatal. */
  private writeFile(cp: AuditCheckpoint): void {
    const dir = this.config.checkpointDir;
    if (!dir) return;
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `checkpoint-${cp.last_seq.padStart(19, '0')}.json`), `${JSON.stringify(cp)}\n`);
    } catch (e) {
      this.logger.warn(`audit checkpoint file not written: ${e instanceof Error ? e.message : String(e)}`);
    }
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

  /** The public keys that signed checkpoints, current and retired, as a JWKS. */
  async keys(m: EntityManager | DataSource = this.dataSource): Promise<{ keys: JWK[] }> {
    const rows = await this.checkpointRepo.signingKeys(m);
    const current = this.key?.publicJwk;
    // The key in hand is authoritative for its own kid.
    const keys = rows.map((r) => (current && r.jwk.kid === current.kid ? current : r.jwk));
    if (current && !keys.includes(current)) keys.push(current);
    return { keys };
  }
}
