import { isIP } from 'node:net';
import { clipText, maskSecrets, safeJson, safeText } from '@app/common';
import { DURABLE_COMMIT } from '@app/database';
import { AUDIT_EVENT_TYPES, type AuditEventInput } from './audit-event.js';
import type { ChainedEventFields } from './audit-chain.js';
import { BROKER_DETAILS_MAX_DEPTH, BROKER_DETAILS_MAX_TEXT_BYTES, jsonbTextShape } from './audit-details-bound.js';
import { ISO_US, PERSONAL_IP, PERSONAL_USER_AGENT } from './audit-personal.js';

/**
 * One audit event as the API, the export and the verifier see it. Ids are decimal strings
 * (bigint), times ISO-8601 UTC with microseconds; the chain fields are null until sealed.
 */
export interface AuditEventRecord extends ChainedEventFields {
  details: Record<string, unknown> | null;
  /** Position in the hash chain (seal order). */
  seq: string | null;
  /** Id of the event sealed just before this one. */
  prev_id: string | null;
  prev_hash: string | null;
  hash: string | null;
  sealed_at: string | null;
}

/** The select list producing AuditEventRecord from `audit_events e` (ip/user_agent: see audit-personal.ts). */
export const RECORD_COLUMNS = `e.id::text AS id,
  to_char(e.occurred_at AT TIME ZONE 'UTC', ${ISO_US}) AS occurred_at,
  e.type, e.outcome, e.reason, e.actor, e.target, e.profile_id, e.developer_id::text AS developer_id,
  e.organisation_id, ${PERSONAL_IP} AS ip, ${PERSONAL_USER_AGENT} AS user_agent, e.request_id, e.details,
  e.seq::text AS seq, e.prev_id::text AS prev_id, e.prev_hash, e.hash,
  to_char(e.sealed_at AT TIME ZONE 'UTC', ${ISO_US}) AS sealed_at`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMAIL_MASK = '[email]';
const MAX_DETAILS_BYTES = 16 * 1024;
/** Longest string kept inside details; longer ones are clipped before anything else reads them. */
const MAX_DETAIL_STRING = 2048;

/**
 * Clipped first (never inside a surrogate pair), then made Postgres-safe (NUL and unpaired
 * surrogates become U+FFFD: an audit record keeps hostile input rather than fail on it).
 */
function clip(value: string | null | undefined, max: number): string | null {
  if (value === undefined || value === null || value === '') return null;
  return safeText(clipText(value, max));
}

// Characters an address's local part and domain are made of (what the scrubber treats as an email).
const NOT_EMAIL_CHAR = new Set([...'@"\'<>()[],;:']);
const isEmailChar = (c: string) => !NOT_EMAIL_CHAR.has(c) && !/\s/.test(c);
const isLetter = (c: string) => (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');

/**
 * Developers' emails never enter the audit log (it keeps pseudonymous ids); this masks one that a
 * caller put into a reason, a target or details by mistake: a run of address characters, `@`, and
 * a domain ending in `.` and two or more letters. One pass from each `@` outwards: every character
 * is looked at a bounded number of times, so the cost is linear in the length. (The regular
 * expression it replaces backtracked from every position: quadratic, seconds of blocked event
 * loop for a 64 KB field, issue 13.)
 */
export function scrubEmailText(text: string): string {
  if (!text.includes('@')) return text;
  let out = '';
  let copied = 0; // text[0, copied) is already in `out`
  let at = text.indexOf('@');
  while (at !== -1) {
    let start = at;
    while (start > copied && isEmailChar(text[start - 1])) start--;
    let end = at + 1;
    while (end < text.length && isEmailChar(text[end])) end++;
    // The domain is text[at + 1, end): the match ends after its last `.letters{2,}`.
    let matchEnd = -1;
    for (let i = end - 1; i > at + 1 && matchEnd === -1; i--) {
      if (text[i] !== '.') continue;
      let letters = 0;
      while (i + 1 + letters < end && isLetter(text[i + 1 + letters])) letters++;
      if (letters >= 2) matchEnd = i + 1 + letters;
    }
    if (start < at && matchEnd !== -1) {
      out += text.slice(copied, start) + EMAIL_MASK;
      copied = matchEnd;
      at = text.indexOf('@', matchEnd);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
  return out + text.slice(copied);
}

function scrubEmails<T>(value: T): T {
  if (typeof value === 'string') return scrubEmailText(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => scrubEmails(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = scrubEmails(v);
    return out as T;
  }
  return value;
}

const scrubbed = (value: string | null) => (value === null ? null : scrubEmailText(value));

/** An address as `inet` accepts it; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes plain IPv4. */
export function normaliseIp(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const v = ip.trim().replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(v);
  if (mapped && isIP(mapped[1]) === 4) return mapped[1];
  return isIP(v) ? v : null;
}

/** How many parameters INSERT_SQL takes (insertParams' length). */
export const INSERT_COLUMNS = 12;

/** The insert's parameters, cleaned: secrets masked, emails removed, lengths clipped. */
export function insertParams(input: AuditEventInput): (string | null)[] {
  if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(input.type)) {
    throw new TypeError(`audit: unknown event type ${JSON.stringify(input.type)}`);
  }
  if (input.outcome !== 'success' && input.outcome !== 'failure') {
    throw new TypeError(`audit: outcome must be success or failure, got ${JSON.stringify(input.outcome)}`);
  }
  if (input.developerId && !UUID.test(input.developerId)) {
    throw new TypeError(`audit: developerId must be a developer's uuid, got ${JSON.stringify(input.developerId)}`);
  }
  let details: string | null = null;
  if (input.details !== undefined && input.details !== null) {
    // Clipped and made Postgres-safe before the scrubber reads it: its cost stays bounded.
    details = JSON.stringify(scrubEmails(safeJson(maskSecrets(input.details), MAX_DETAIL_STRING)));
    const bytes = Buffer.byteLength(details);
    // Well inside the database's bound (audit-details-bound.ts), which would refuse the insert:
    // safeJson keeps 32 levels, but an object's toJSON may nest deeper, and Postgres writes some
    // numbers longer (5e-324 as 326 characters).
    const shape = bytes > MAX_DETAILS_BYTES ? null : jsonbTextShape(details);
    if (!shape || shape.depth > BROKER_DETAILS_MAX_DEPTH || shape.textBytes > BROKER_DETAILS_MAX_TEXT_BYTES) {
      details = JSON.stringify({ truncated: true, bytes });
    }
  }
  return [
    input.type,
    input.outcome,
    scrubbed(clip(input.reason, 200)),
    clip(input.actor, 300),
    scrubbed(clip(input.target, 300)),
    clip(input.profileId, 200),
    input.developerId ? input.developerId.toLowerCase() : null,
    clip(input.organisationId, 200),
    normaliseIp(input.ip),
    clip(input.userAgent, 512),
    clip(input.requestId, 128),
    details,
  ];
}

/**
 * One statement, one round trip: the event, and its personal fields outside the chained record.
 * Its transaction commits durably whatever `synchronous_commit` the server, database or role sets
 * (DURABLE_COMMIT): an event the broker answered after must survive a crash of Postgres.
 */
export const INSERT_SQL = `WITH e AS (
    INSERT INTO audit_events
      (type, outcome, reason, actor, target, profile_id, developer_id, organisation_id, request_id, details)
    VALUES ($1, $2, $3, $4, $5, $6, $7::uuid, $8, $11, $12::jsonb)
    RETURNING id),
  p AS (
    INSERT INTO audit_event_personal (event_id, ip, user_agent)
    SELECT e.id, $9::inet, $10::varchar FROM e WHERE $9::inet IS NOT NULL OR $10::varchar IS NOT NULL)
  SELECT id::text AS id, ${DURABLE_COMMIT} FROM e`;

/**
 * INSERT_SQL for several events in one statement, one commit (AuditInsertBatcher): parameter i is
 * the array of every event's insertParams value i, in order. The identity column numbers the rows
 * in the order the statement inserts them (ORDER BY ord), so the ids, ranked, are the events' in
 * input order: the answer has one id per event, in input order. The personal rows come from the
 * same statement, as the personal-row guard (migration 1797000017400) requires.
 */
export const INSERT_MANY_SQL = `WITH v AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::text[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY
      AS v(type, outcome, reason, actor, target, profile_id, developer_id, organisation_id, ip, user_agent, request_id, details, ord)),
  e AS (
    INSERT INTO audit_events
      (type, outcome, reason, actor, target, profile_id, developer_id, organisation_id, request_id, details)
    SELECT type, outcome, reason, actor, target, profile_id, developer_id::uuid, organisation_id, request_id, details::jsonb
      FROM v ORDER BY ord
    RETURNING id),
  ids AS (SELECT id, row_number() OVER (ORDER BY id) AS ord FROM e),
  p AS (
    INSERT INTO audit_event_personal (event_id, ip, user_agent)
    SELECT ids.id, v.ip::inet, v.user_agent::varchar FROM ids JOIN v USING (ord)
     WHERE v.ip IS NOT NULL OR v.user_agent IS NOT NULL)
  SELECT id::text AS id, ${DURABLE_COMMIT} FROM ids ORDER BY ord`;

/** INSERT_MANY_SQL's parameters: one array per column of insertParams, the events in order. */
export function insertManyParams(events: (string | null)[][]): (string | null)[][] {
  return Array.from({ length: INSERT_COLUMNS }, (_, column) => events.map((params) => params[column] ?? null));
}
