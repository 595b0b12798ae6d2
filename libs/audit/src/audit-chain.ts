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
 *
 * Written without recursion, at any depth: a row whose `details` were nested thousands of levels
 * deep (possible before the database bounded them, 1797000017000-BoundAuditDetails) used to
 * overflow the stack, which stopped the sealer for good or made every verify throw.
 */
export function canonicalJson(value: unknown): string {
  return writeJson(value, true);
}

/**
 * JSON.stringify(value) for a value JSON.parse returned (what pg gives for jsonb), at any depth:
 * JSON.stringify recurses and throws RangeError some thousands of levels down.
 */
export function plainJson(value: unknown): string {
  return writeJson(value, false);
}

/** An open array or object: its remaining members, in output order. */
interface OpenContainer {
  values: unknown[];
  keys: string[] | null;
  next: number;
}

/** canonicalJson (`sorted`) or plainJson, with an explicit stack instead of recursion. */
function writeJson(value: unknown, sorted: boolean): string {
  let out = '';
  const open: OpenContainer[] = [];
  let v = value;
  for (;;) {
    if (v === null || v === undefined) {
      out += 'null';
    } else if (Array.isArray(v)) {
      if (v.length === 0) out += '[]';
      else {
        out += '[';
        open.push({ values: v, keys: null, next: 0 });
      }
    } else if (typeof v === 'object') {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      if (sorted) keys.sort();
      if (keys.length === 0) out += '{}';
      else {
        out += '{';
        open.push({ values: keys.map((k) => obj[k]), keys, next: 0 });
      }
    } else if (typeof v === 'bigint') {
      out += JSON.stringify(v.toString());
    } else if (typeof v === 'number' && !Number.isFinite(v)) {
      out += 'null';
    } else {
      out += String(JSON.stringify(v));
    }
    // The next member to write, closing every container that is complete.
    for (;;) {
      const top = open[open.length - 1];
      if (!top) return out;
      if (top.next === top.values.length) {
        out += top.keys ? '}' : ']';
        open.pop();
        continue;
      }
      if (top.next > 0) out += ',';
      if (top.keys) out += `${JSON.stringify(top.keys[top.next])}:`;
      v = top.values[top.next++];
      break;
    }
  }
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
