import { isIP } from 'node:net';
import { DEFAULT_PAGE_LIMIT, DomainError, MAX_PAGE_LIMIT, pageLimit, unsafeTextReason } from '@app/common';
import { AUDIT_EVENT_TYPES } from './audit-event.js';
import { cursorInvalid, filterFingerprint, type CursorCodec } from './cursor.js';

import { ipFilter } from './audit-personal.js';

const INT8_MAX = 9223372036854775807n;

/** Filters of the audit query and export, as they arrive (query string or code). */
export interface AuditQueryInput {
  /** Exact types or prefixes such as `login.*`; repeatable. */
  type?: string | readonly string[];
  outcome?: string;
  /** Developer id (uuid). */
  developer?: string;
  /** The developer's email (case-insensitive, exact); matched through the developers table. */
  email?: string;
  profile?: string;
  organization?: string;
  /** An IP address or a CIDR range. */
  ip?: string;
  /** ISO-8601, inclusive. */
  since?: string | Date;
  /** ISO-8601, exclusive. */
  until?: string | Date;
  /** Keywords, all of which must appear in the reason, the target or the developer's email. */
  q?: string;
  order?: string;
  limit?: number | string;
  cursor?: string;
}

/** Validated, normalised filters. */
export interface AuditFilters {
  types: string[] | null;
  outcome: 'success' | 'failure' | null;
  developer: string | null;
  email: string | null;
  profile: string | null;
  organization: string | null;
  ip: string | null;
  since: Date | null;
  until: Date | null;
  q: string[];
  order: 'asc' | 'desc';
  limit: number;
  /** Keyset position from the cursor: the last id already returned. */
  afterId: string | null;
  fingerprint: string;
}

/** The paging limits live in @app/common with the rest of the paging kit. */
export const DEFAULT_LIMIT = DEFAULT_PAGE_LIMIT;
export const MAX_LIMIT = MAX_PAGE_LIMIT;
export { pageLimit };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_8601 =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?))?$/i;

export function invalid(parameter: string, problem: string): DomainError {
  return new DomainError('validation_failed', `${parameter}: ${problem}`, { parameter });
}

function text(parameter: string, value: unknown, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(parameter, 'expected a single string value');
  const v = value.trim();
  if (v === '') throw invalid(parameter, 'must not be empty');
  if (v.length > max) throw invalid(parameter, `must be at most ${max} characters`);
  // Text Postgres cannot hold (NUL, unpaired surrogates): refused here, not by the database.
  const unsafe = unsafeTextReason(v);
  if (unsafe) throw invalid(parameter, unsafe);
  return v;
}

/** Exact known types, or `prefix.*` expanded to the known types under it. */
export function expandTypes(values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of values) {
    const value = raw.trim();
    if (value.endsWith('.*')) {
      const prefix = value.slice(0, -1);
      const hits = AUDIT_EVENT_TYPES.filter((t) => t.startsWith(prefix));
      if (hits.length === 0) {
        throw invalid('type', `no event type starts with ${JSON.stringify(prefix)}`);
      }
      hits.forEach((t) => out.add(t));
    } else if ((AUDIT_EVENT_TYPES as readonly string[]).includes(value)) {
      out.add(value);
    } else {
      throw invalid(
        'type',
        `unknown event type ${JSON.stringify(value)}; expected one of ${AUDIT_EVENT_TYPES.join(', ')}, or a prefix such as login.*`,
      );
    }
  }
  return [...out].sort();
}

/** Strict ISO-8601: a date, or a date and time with `Z` or an offset. */
export function parseIsoTime(parameter: string, value: unknown): Date | null {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw invalid(parameter, 'not a valid time');
    return inPostgresRange(parameter, value);
  }
  if (typeof value !== 'string') throw invalid(parameter, 'expected a single ISO-8601 time');
  const m = ISO_8601.exec(value.trim());
  const example = 'expected an ISO-8601 time with a time zone, e.g. 2025-01-31T12:00:00Z, or a date (UTC midnight)';
  if (!m) throw invalid(parameter, example);
  const [, y, mo, d, h, mi, , , zone] = m;
  if (h !== undefined && zone === undefined) throw invalid(parameter, example);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || (h !== undefined && (Number(h) > 23 || Number(mi) > 59))) {
    throw invalid(parameter, example);
  }
  const normalised = h === undefined ? `${y}-${mo}-${d}T00:00:00Z` : value.trim().replace(' ', 'T');
  const date = new Date(normalised);
  const calendarDay = new Date(Date.UTC(Number(y), month - 1, day)).getUTCDate();
  if (Number.isNaN(date.getTime()) || calendarDay !== day) throw invalid(parameter, example);
  return inPostgresRange(parameter, date);
}

/**
 * Years 0001 to 9999 in UTC. JavaScript takes year 0000 (and an offset can carry 0001-01-01 or
 * 9999-12-31 across), but Postgres has no year 0 and the export's COPY literal is written as
 * ISO-8601, so such a time would reach the database and fail there instead of here.
 */
function inPostgresRange(parameter: string, date: Date): Date {
  const year = date.getUTCFullYear();
  if (year < 1 || year > 9999) throw invalid(parameter, 'must be between the years 0001 and 9999 (UTC)');
  return date;
}

function ipOrCidr(value: unknown): string | null {
  const v = text('ip', value, 64);
  if (v === null) return null;
  // isIP takes an IPv6 zone id (fe80::1%eth0); Postgres inet does not.
  if (v.includes('%')) throw invalid('ip', 'a zone id (%…) is not accepted; expected an IP address or a CIDR range');
  const [addr, bits, ...rest] = v.split('/');
  const family = isIP(addr ?? '');
  const ok =
    family !== 0 &&
    rest.length === 0 &&
    (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)));
  if (!ok) throw invalid('ip', 'expected an IP address or a CIDR range such as 10.0.0.0/8');
  return v;
}

/** Keywords of `q`: split on white space, at most 8, each kept as typed (matched case-insensitively). */
function keywords(value: unknown): string[] {
  const v = text('q', value, 200);
  if (v === null) return [];
  const words = v.split(/\s+/).filter(Boolean);
  if (words.length > 8) throw invalid('q', 'at most 8 keywords');
  return words;
}

/**
 * Validates every filter (each problem is a `validation_failed` naming the parameter) and decodes
 * the cursor against the filters' fingerprint.
 */
export function parseAuditFilters(input: AuditQueryInput, options: { cursors?: CursorCodec } = {}): AuditFilters {
  const rawTypes = input.type === undefined ? [] : typeof input.type === 'string' ? [input.type] : [...input.type];
  if (rawTypes.some((t) => typeof t !== 'string' || t.trim() === '')) throw invalid('type', 'must not be empty');
  if (rawTypes.length > 20) throw invalid('type', 'at most 20 values');
  const types = rawTypes.length > 0 ? expandTypes(rawTypes) : null;

  const outcome = text('outcome', input.outcome, 16);
  if (outcome !== null && outcome !== 'success' && outcome !== 'failure') {
    throw invalid('outcome', 'expected success or failure');
  }
  const developer = text('developer', input.developer, 64);
  if (developer !== null && !UUID.test(developer)) throw invalid('developer', 'expected a developer id (uuid)');
  const email = text('email', input.email, 320);
  const profile = text('profile', input.profile, 200);
  const organization = text('organization', input.organization, 200);
  const ip = ipOrCidr(input.ip);
  const since = parseIsoTime('since', input.since);
  const until = parseIsoTime('until', input.until);
  if (since && until && since.getTime() >= until.getTime()) throw invalid('until', 'must be later than since');
  const q = keywords(input.q);
  const order = text('order', input.order, 8) ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw invalid('order', 'expected asc or desc');
  const limit = pageLimit(input.limit);

  const fingerprint = filterFingerprint({
    types,
    outcome,
    developer: developer?.toLowerCase() ?? null,
    email: email?.toLowerCase() ?? null,
    profile,
    organization,
    ip,
    since: since?.toISOString() ?? null,
    until: until?.toISOString() ?? null,
    q: q.map((w) => w.toLowerCase()),
    order,
  });
  let afterId: string | null = null;
  if (input.cursor !== undefined && input.cursor !== null && input.cursor !== '') {
    if (!options.cursors) throw invalid('cursor', 'not accepted here');
    if (typeof input.cursor !== 'string') throw invalid('cursor', 'expected a single value');
    afterId = options.cursors.decode(input.cursor, fingerprint, ['id']).id;
    // Signed, so only the broker made it; still never hand SQL a value outside bigint.
    if (!/^\d{1,19}$/.test(afterId) || BigInt(afterId) > INT8_MAX) throw cursorInvalid('cursor');
  }
  return {
    types,
    outcome,
    developer: developer?.toLowerCase() ?? null,
    email,
    profile,
    organization,
    ip,
    since,
    until,
    q,
    order,
    limit,
    afterId,
    fingerprint,
  };
}

function likePattern(word: string): string {
  return `%${word.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The expression the trigram index IDX_audit_events_text is built on (keep them identical). */
export const TEXT_EXPRESSION = `(coalesce(e.reason, '') || ' ' || coalesce(e.target, ''))`;

/**
 * SQL conditions for the filters (not the keyset), over `audit_events e`, numbering parameters
 * from `params.length + 1`. Emails are never stored in the audit log: `email` and `q` reach them
 * through the developers table, as `developer_id = ANY(ARRAY(subquery))` (an init plan) so that
 * the planner can combine the developer index with the trigram index (a plain `IN (subquery)`
 * inside an OR forces a sequential scan).
 */
export function auditWhere(filters: AuditFilters, params: unknown[]): string[] {
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  if (filters.types) where.push(`e.type = ANY(${p(filters.types)}::text[])`);
  if (filters.outcome) where.push(`e.outcome = ${p(filters.outcome)}`);
  if (filters.developer) where.push(`e.developer_id = ${p(filters.developer)}::uuid`);
  if (filters.email) {
    where.push(
      `e.developer_id = ANY(ARRAY(SELECT d.id FROM developers d WHERE lower(d.email) = lower(${p(filters.email)})))`,
    );
  }
  if (filters.profile) where.push(`e.profile_id = ${p(filters.profile)}`);
  if (filters.organization) where.push(`e.organisation_id = ${p(filters.organization)}`);
  if (filters.ip) where.push(ipFilter(p(filters.ip)));
  // Ids and times are taken together at insert (nextval, clock_timestamp), so a time bound also
  // bounds the ids, give or take concurrent inserts: the slack covers those. The id bound lets a
  // page walk the primary key over the window only, instead of the whole log (keep the exact
  // time condition too).
  if (filters.since) {
    const since = p(filters.since);
    where.push(`e.occurred_at >= ${since}`);
    where.push(
      `e.id > COALESCE((SELECT b.id FROM audit_events b WHERE b.occurred_at < ${since}::timestamptz - interval '5 minutes' ORDER BY b.occurred_at DESC LIMIT 1), 0)`,
    );
  }
  if (filters.until) {
    const until = p(filters.until);
    where.push(`e.occurred_at < ${until}`);
    where.push(
      `e.id < COALESCE((SELECT b.id FROM audit_events b WHERE b.occurred_at >= ${until}::timestamptz + interval '5 minutes' ORDER BY b.occurred_at ASC LIMIT 1), 9223372036854775807)`,
    );
  }
  // Each word matches the text (trigram index) or the developer's email (developer index). For
  // a word that looks like an email, few rows match and one OR defeats both indexes (the planner
  // walks the whole log backwards): a UNION of the two id sets lets each side use its index. For
  // other words, often frequent ones (a reason code), the OR with an early LIMIT is faster than
  // collecting every match. Measured at 1M events: see bench/README.md.
  const text = TEXT_EXPRESSION.replace(/\be\./g, 'x.');
  for (const word of filters.q) {
    const pattern = p(likePattern(word));
    const byEmail = `ANY(ARRAY(SELECT d.id FROM developers d WHERE lower(d.email) LIKE ${pattern}))`;
    where.push(
      word.includes('@')
        ? `e.id IN (SELECT x.id FROM audit_events x WHERE ${text} ILIKE ${pattern}
            UNION ALL SELECT x.id FROM audit_events x WHERE x.developer_id = ${byEmail})`
        : `(${TEXT_EXPRESSION} ILIKE ${pattern} OR e.developer_id = ${byEmail})`,
    );
  }
  return where;
}
