import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { JWK } from 'jose';
import { GENESIS_HASH, chainHash } from './audit-chain.js';
import {
  ChainWalk,
  sortBreaks,
  type AuditBreak,
  type AuditCheckpoint,
  type VerifiableEvent,
} from './audit-verifier.js';
import { verifyCheckpoints } from './audit-checkpoint-verify.js';
import { anchorProblem, type RetentionRecord } from './audit-retention-proof.js';

export interface OfflineVerifyResult {
  status: 'intact' | 'broken';
  count: number;
  checkpoints: number;
  lastSeq: string | null;
  lastHash: string | null;
  firstBadSeq?: string;
  problem?: string;
  problems?: AuditBreak[];
}

interface Light {
  seq: bigint;
  id: string;
  prev_id: string | null;
  prev_hash: string | null;
  hash: string | null;
  hashOk: boolean;
}

function parseLine(line: string): (VerifiableEvent & { type: string }) | null {
  try {
    const row = JSON.parse(line) as (VerifiableEvent & { type: string }) | null;
    return row && typeof row === 'object' ? row : null;
  } catch {
    return null;
  }
}

/**
 * Verifies an NDJSON export of the whole log (GET /api/audit/export, `audit export`) with no
 * database and no broker: every event's hash, every link, every checkpoint signature against the
 * published keys, that the export reaches the latest checkpoint and keeps the hash each
 * checkpoint signed, that a chain not starting at seq 1 starts where a retention proof signed
 * with one of the keys says (anchorProblem), and optionally that it contains a head kept earlier.
 * Fetch the checkpoints before the export, so the export reaches the latest of them.
 * Keeps only the chain columns per event in memory (~200 bytes), any order of lines.
 */
export async function verifyExportFiles(options: {
  exportFile: string;
  keysFile: string;
  checkpointsFile: string;
  expectedHead?: string | null;
}): Promise<OfflineVerifyResult> {
  const jwks = JSON.parse(readFileSync(options.keysFile, 'utf8')) as { keys?: JWK[] } | JWK[];
  const keys = Array.isArray(jwks) ? jwks : (jwks.keys ?? []);
  const cpsRaw = JSON.parse(readFileSync(options.checkpointsFile, 'utf8')) as
    AuditCheckpoint[] | { data?: AuditCheckpoint[] };
  const checkpoints = Array.isArray(cpsRaw) ? cpsRaw : (cpsRaw.data ?? []);
  const events: Light[] = [];
  const retention: RetentionRecord[] = [];
  const lines = createInterface({ input: createReadStream(options.exportFile, 'utf8'), crlfDelay: Infinity });
  const unreadable: AuditBreak[] = [];
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    const row = parseLine(line);
    if (!row) {
      unreadable.push({ seq: '0', kind: 'hash_mismatch', detail: `line ${n} of the export is not an event (changed)` });
      continue;
    }
    // A signed retention proof counts sealed or not (its signature vouches for it).
    if (row.type === 'audit.retention_signed') {
      retention.push({ type: row.type, details: row.details, hash: row.hash });
    }
    if (row.seq === null || row.seq === undefined) continue;
    let hashOk: boolean;
    try {
      // The IP and user agent of newer events are kept outside the chained record (erasure,
      // audit-personal.ts): such an event was sealed with both null. Older events were sealed
      // with them, so one of the two forms must match.
      hashOk =
        typeof row.prev_hash === 'string' &&
        (chainHash(row.prev_hash, row) === row.hash ||
          chainHash(row.prev_hash, { ...row, ip: null, user_agent: null }) === row.hash);
    } catch {
      // A field of the wrong type (changed bytes) cannot be hashed: it was not sealed like this.
      hashOk = false;
    }
    if (row.type === 'audit.retention_applied') {
      retention.push({ type: row.type, details: row.details, hash: row.hash });
    }
    events.push({
      seq: BigInt(row.seq),
      id: row.id,
      prev_id: row.prev_id,
      prev_hash: row.prev_hash,
      hash: row.hash,
      hashOk,
    });
  }
  events.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const { breaks: cpBreaks, valid } = await verifyCheckpoints(checkpoints, keys);
  const first = events[0];
  const expectedHead = options.expectedHead ? options.expectedHead.toLowerCase() : null;
  const startSeq = first ? first.seq : 1n;
  const walk = new ChainWalk(startSeq, first && first.seq === 1n ? GENESIS_HASH : null, valid, expectedHead);
  for (const e of events) walk.push({ ...e, seq: e.seq.toString() }, e.hashOk);
  const extra: AuditBreak[] = [];
  if (first && first.seq > 1n) {
    // Only a proof signed with a key of the keys file (the auditor's trusted keys) explains it.
    const problem = await anchorProblem(
      { first_seq: first.seq.toString(), prev_hash: first.prev_hash ?? '' },
      retention,
      { keyFor: (kid) => keys.find((k) => kid !== undefined && k.kid === kid), trusting: keys.length > 0 },
    );
    if (problem) extra.push({ ...problem, id: first.id });
  }
  const latest = valid[valid.length - 1];
  const lastSeq = walk.lastSeq ?? 0n;
  if (latest && BigInt(latest.last_seq) > lastSeq) {
    extra.push({
      seq: (lastSeq + 1n).toString(),
      kind: 'head_mismatch',
      detail: `the export ends at seq ${lastSeq}, before the latest signed checkpoint (seq ${latest.last_seq}): events are missing at the end (or the checkpoints were fetched after the export)`,
    });
  }
  // A kept head older than the export can only be matched by its signed checkpoint.
  const retired = valid.some((c) => c.last_hash === expectedHead && BigInt(c.last_seq) < startSeq);
  if (expectedHead !== null && !walk.expectedHeadSeen && !retired) {
    extra.push({
      seq: lastSeq.toString(),
      kind: 'head_mismatch',
      detail: 'the expected head hash is neither an event nor a checkpoint of this export: the chain was rewritten',
    });
  }
  const problems = [...unreadable, ...sortBreaks([...cpBreaks, ...walk.breaks, ...extra])].slice(0, 100);
  const base = {
    count: walk.count,
    checkpoints: checkpoints.length,
    lastSeq: walk.lastSeq === null ? null : walk.lastSeq.toString(),
    lastHash: walk.lastHash,
  };
  const bad = problems[0];
  return bad
    ? { status: 'broken', ...base, firstBadSeq: bad.seq, problem: bad.kind, problems }
    : { status: 'intact', ...base };
}
