/**
 * How large and how deeply nested `audit_events.details` may be (issue: crafted details).
 *
 * The database refuses an insert beyond DETAILS_MAX_LEVEL or DETAILS_MAX_TEXT_BYTES, for every
 * role (trigger `audit_events_details_bounded`, 1797000017000-BoundAuditDetails). The broker
 * itself writes far less (insertParams): bracket depth at most BROKER_DETAILS_MAX_DEPTH and at most
 * BROKER_DETAILS_MAX_TEXT_BYTES of Postgres' jsonb text, so the database bound never refuses one
 * of its own events. Rows written before the bound may exceed it: the code that reads them (hash,
 * stream, API, export) works at any depth or shows them with DETAILS_OMITTED.
 */

/** No value more than this many levels below the top of `details` (the top itself is level 0). */
export const DETAILS_MAX_LEVEL = 63;
/** octet_length(details::text) at most this (Postgres' text form: a blank after each `,` and `:`). */
export const DETAILS_MAX_TEXT_BYTES = 64 * 1024;
/** What the broker writes: nesting (brackets) at most this deep... */
export const BROKER_DETAILS_MAX_DEPTH = 32;
/** ...and its jsonb text at most this long (upper bound computed by jsonbTextShape). */
export const BROKER_DETAILS_MAX_TEXT_BYTES = 32 * 1024;
/**
 * Postgres prints a JSON number in plain notation (`5e-324` becomes `0.000…5`, 326 characters;
 * `1e308` 309 digits): at most this many bytes for a number JavaScript writes with an exponent.
 */
const EXPONENT_NUMBER_TEXT_BYTES = 400;

/**
 * Of a compact JSON text (JSON.stringify's output): its bracket depth, and an upper bound on the
 * bytes of Postgres' text form of the same value (jsonb::text): the bytes, one blank per `,` and
 * `:` outside strings, EXPONENT_NUMBER_TEXT_BYTES per number written with an exponent. Strings are
 * escaped the same way by both; jsonb's key sorting and de-duplication never lengthen the text.
 */
export function jsonbTextShape(compact: string): { depth: number; textBytes: number } {
  let depth = 0;
  let maxDepth = 0;
  let extra = 0;
  let inString = false;
  for (let i = 0; i < compact.length; i++) {
    const c = compact.charCodeAt(i);
    if (inString) {
      // `\x`: the escaped character cannot end the string.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) maxDepth = Math.max(maxDepth, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
    else if (c === 0x2c || c === 0x3a) extra += 1;
    else if ((c === 0x65 || c === 0x45) && i > 0) {
      // `e` after a digit is an exponent (in true/false it follows a letter).
      const p = compact.charCodeAt(i - 1);
      if (p >= 0x30 && p <= 0x39) extra += EXPONENT_NUMBER_TEXT_BYTES;
    }
  }
  return { depth: maxDepth, textBytes: Buffer.byteLength(compact) + extra };
}

/**
 * Whether a parsed `details` value has a value more than DETAILS_MAX_LEVEL levels below its top
 * (the database's bound). Iterative, and stops at the first one.
 */
export function detailsTooDeep(details: unknown): boolean {
  const todo: { value: unknown; level: number }[] = [{ value: details, level: 0 }];
  for (let item = todo.pop(); item; item = todo.pop()) {
    const { value, level } = item;
    if (value === null || typeof value !== 'object') continue;
    const children = Array.isArray(value) ? (value as unknown[]) : Object.values(value);
    if (children.length > 0 && level + 1 > DETAILS_MAX_LEVEL) return true;
    for (const child of children) todo.push({ value: child, level: level + 1 });
  }
  return false;
}

/** What the events API and the SIEM stream show instead of details nested beyond the bound. */
export const DETAILS_OMITTED = Object.freeze({
  omitted: 'nested_too_deep',
  max_level: DETAILS_MAX_LEVEL,
  note: 'recorded before the database bounded details; the hash covers them as recorded, the export has them',
});

/**
 * `record` as the events API and the stream show it: details nested beyond the database's bound
 * (only rows written before it) become DETAILS_OMITTED, which every JSON encoder can write
 * (JSON.stringify throws RangeError some thousands of levels down: HTTP 500, a stalled stream).
 */
export function presentable<T extends { details: unknown }>(record: T): T {
  return detailsTooDeep(record.details) ? { ...record, details: { ...DETAILS_OMITTED } } : record;
}
