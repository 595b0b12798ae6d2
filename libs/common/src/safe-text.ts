/**
 * Text Postgres can hold. `text` and `jsonb` refuse U+0000, and `jsonb` refuses the `\ud800`
 * escape that JSON.stringify writes for an unpaired UTF-16 surrogate (a `text` parameter silently
 * becomes U+FFFD instead). Either one reaching a query used to fail the statement, answer 500 and
 * log the statement's parameters (issue 13), so every place user text reaches Postgres goes
 * through here: input a client controls (profiles, query filters) is refused with the field named,
 * text the broker must keep whatever it is (audit records, names from IdP claims) is repaired.
 */

/** An unpaired surrogate: a high one not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
const REPLACEMENT = '\uFFFD';

/** Why Postgres cannot hold this string, or null when it can. Linear in the string's length. */
export function unsafeTextReason(value: string): string | null {
  if (value.includes('\u0000')) return 'must not contain a NUL character (U+0000)';
  if (LONE_SURROGATE.test(value)) return 'must not contain an unpaired UTF-16 surrogate';
  return null;
}

/** The string with every NUL and unpaired surrogate replaced by U+FFFD (unchanged when clean). */
export function safeText(value: string): string {
  if (unsafeTextReason(value) === null) return value;
  return value.replaceAll('\u0000', REPLACEMENT).replace(LONE_SURROGATES, REPLACEMENT);
}

/**
 * At most `max` UTF-16 units, never ending inside a surrogate pair (so clipping never makes the
 * unpaired surrogate Postgres refuses).
 */
export function clipText(value: string, max: number): string {
  if (value.length <= max) return value;
  const code = value.charCodeAt(max - 1);
  return value.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** Bounds a JSON document may be held to, beside the text rule (each optional). */
export interface TextLimits {
  /** Longest string value, in UTF-16 units. */
  maxStringLength?: number;
  /** Longest object key. */
  maxKeyLength?: number;
  /** Most entries in one object or array. */
  maxEntries?: number;
  /** Deepest nesting of objects and arrays. */
  maxDepth?: number;
}

export interface TextProblem {
  /** Where, as `A.B[0].C` with the keys as sent (any unsafe character shown as U+FFFD). */
  path: string;
  reason: string;
}

const MAX_PROBLEMS = 20;

/**
 * Every string of a parsed JSON document (object keys included) that Postgres cannot hold or that
 * breaks `limits`, with its field path; the first 20. Iterative, so depth cannot exhaust the stack.
 */
export function jsonTextProblems(document: unknown, limits: TextLimits = {}): TextProblem[] {
  const problems: TextProblem[] = [];
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: document, path: '', depth: 0 }];
  const child = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);
  while (stack.length > 0 && problems.length < MAX_PROBLEMS) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const reason = unsafeTextReason(value);
      if (reason) problems.push({ path, reason });
      else if (limits.maxStringLength !== undefined && value.length > limits.maxStringLength) {
        problems.push({ path, reason: `must be at most ${limits.maxStringLength} characters` });
      }
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (limits.maxDepth !== undefined && depth >= limits.maxDepth) {
      problems.push({ path, reason: `nests deeper than ${limits.maxDepth} levels` });
      continue;
    }
    const entries = Array.isArray(value)
      ? value.map((v: unknown, i) => [i, v] as const)
      : Object.entries(value as Record<string, unknown>);
    if (limits.maxEntries !== undefined && entries.length > limits.maxEntries) {
      problems.push({ path, reason: `must have at most ${limits.maxEntries} entries` });
      continue;
    }
    // Pushed in reverse so problems come out in document order.
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, v] = entries[i];
      if (typeof key === 'number') {
        stack.push({ value: v, path: `${path}[${key}]`, depth: depth + 1 });
        continue;
      }
      const at = child(path, clipText(safeText(key), 64));
      const keyReason = unsafeTextReason(key);
      if (keyReason) {
        problems.push({ path: at, reason: `key ${keyReason}` });
      } else if (limits.maxKeyLength !== undefined && key.length > limits.maxKeyLength) {
        problems.push({ path: at, reason: `key must be at most ${limits.maxKeyLength} characters` });
      } else {
        stack.push({ value: v, path: at, depth: depth + 1 });
      }
    }
  }
  return problems;
}

/**
 * A copy of a JSON-like value in which every string and key is Postgres-safe and at most
 * `maxStringLength` long (clipped before anything else looks at it). Bounded by depth (deeper
 * values become the string `[too deep]`), so the recursion cannot exhaust the stack.
 */
export function safeJson(value: unknown, maxStringLength: number, maxDepth = 32): unknown {
  const fix = (s: string) => safeText(clipText(s, maxStringLength));
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return fix(v);
    if (v === null || typeof v !== 'object') return v;
    if (depth >= maxDepth) return '[too deep]';
    if (Array.isArray(v)) return v.map((item: unknown) => walk(item, depth + 1));
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return v;
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) out[fix(k)] = walk(item, depth + 1);
    return out;
  };
  return walk(value, 0);
}
