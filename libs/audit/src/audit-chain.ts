import { createHash } from 'node:crypto';

/** `prev_hash` of the very first event of the chain (no anchor yet). */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The event fields covered by the hash, in the form Postgres returns them to the sealer and the
 * verifier: ids as decimal strings, times as ISO-8601 UTC with microseconds
 * (`2025-01-31T12:00:00.123456Z`), `ip` in Postgres' inet text form, `details` as parsed JSON.
 * The chain columns (seq, prev_id, prev_hash, hash, sealed_at) are not part of it.
 */
export interface ChainedEventFields {
  id: string;
  occurred_at: string;
  type: string;
  outcome: string;
  reason: string | null;
  actor: string | null;
  target: string | null;
  profile_id: string | null;
  developer_id: string | null;
  organisation_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  details: unknown;
}

/** The fixed field list: a column added later is not silently hashed (or silently skipped). */
export const CHAINED_FIELDS = [
  'id',
  'occurred_at',
  'type',
  'outcome',
  'reason',
  'actor',
  'target',
  'profile_id',
  'developer_id',
  'organisation_id',
  'ip',
  'user_agent',
  'request_id',
  'details',
] as const satisfies readonly (keyof ChainedEventFields)[];

/**
 * Canonical JSON: object keys sorted (JavaScript's default sort, i.e. by UTF-16 code units) at
 * every depth, no whitespace, `undefined` members dropped, strings and numbers as JSON.stringify
 * writes them. Anyone can re-implement it to verify an export offline.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  }
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  if (typeof value === 'bigint') {
    return JSON.stringify(value.toString());
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return 'null';
  }
  return JSON.stringify(value);
}

const SORTED_FIELDS = [...CHAINED_FIELDS].sort();
const KEY_PREFIXES = SORTED_FIELDS.map((field, i) => `${i === 0 ? '{' : ','}${JSON.stringify(field)}:`);

/**
 * The canonical JSON of one event: exactly CHAINED_FIELDS, nulls included. Same output as
 * canonicalJson() over an object of those fields, built without re-sorting the fixed keys (the
 * sealer and the verifier run it for every event).
 */
export function canonicalEventJson(event: ChainedEventFields): string {
  let out = '';
  for (let i = 0; i < SORTED_FIELDS.length; i++) {
    const field = SORTED_FIELDS[i];
    const value = event[field];
    out +=
      KEY_PREFIXES[i] +
      (field === 'details'
        ? canonicalJson(value)
        : value === null || value === undefined
          ? 'null'
          : JSON.stringify(value));
  }
  return `${out}}`;
}

/** `hash = hex(SHA-256(prev_hash ‖ canonicalJson(event)))`, prev_hash as 64 hex characters. */
export function chainHash(prevHash: string, event: ChainedEventFields): string {
  return createHash('sha256').update(prevHash, 'utf8').update(canonicalEventJson(event), 'utf8').digest('hex');
}
