import { GO_FOLD_RUNS } from './go-fold-table.js';

/** A JSON object (not null, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Sets `obj[key] = value` as an own, enumerable data property, whatever the key: a client's JSON
 * may name a key `__proto__` (JSON.parse keeps it as an ordinary key, as Go's maps do), and a
 * plain assignment would instead replace the copy's prototype, so the key would vanish from what
 * is stored and its values would be inherited by every lookup on the copy.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Code point to the smallest rune of its Go `unicode.SimpleFold` orbit, for non-ASCII runes that differ. */
let foldTargets: Map<number, number> | undefined;

function foldTarget(cp: number): number {
  if (!foldTargets) {
    foldTargets = new Map();
    for (const [first, last, stride, delta] of GO_FOLD_RUNS) {
      for (let c = first; c <= last; c += stride) foldTargets.set(c, c + delta);
    }
  }
  return foldTargets.get(cp) ?? cp;
}

/**
 * A key folded the way Go's encoding/json folds names to match struct fields (fold.go `foldName`:
 * ASCII a-z upper-cased, every other rune replaced by the smallest rune of its `unicode.SimpleFold`
 * orbit), so `goFoldName(a) === goFoldName(b)` exactly when Go's `bytes.EqualFold(a, b)`. The orbits
 * come from Go itself (go-fold-table.ts, generated with test/fixtures/go-fold/gen.go); JavaScript's
 * case mappings differ from Go's (`'ſ'.toLowerCase()` is `ſ`, `'ı'.toUpperCase()` is `I`, which Go does
 * not fold). Only two non-ASCII runes fold into ASCII: the Kelvin sign (orbit K, k, U+212A) and the
 * long s (orbit S, s, U+017F). A lone surrogate counts as U+FFFD, the rune Go's JSON decoder puts in
 * its place. No orbit mixes BMP and astral runes, so a fold keeps the length in UTF-16 units.
 */
export function goFoldName(key: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(key)) return key.toUpperCase();
  let out = '';
  for (const ch of key) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) out += cp >= 0x61 && cp <= 0x7a ? String.fromCharCode(cp - 0x20) : ch;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
    else out += String.fromCodePoint(foldTarget(cp));
  }
  return out;
}

/**
 * Reads a key the way Go's encoding/json fills a struct field: every key of the object that
 * equals it or folds to it (`goFoldName`) is decoded into the field in document order, so the last
 * one wins. TIB's files and APIs rely on the folding (`IDPMetaDataURL`, `useproviders`). With
 * `scalar` (a string, bool or number field), a JSON null changes nothing, as in Go (it only zeroes
 * a map, slice, pointer or interface): an earlier match stands.
 */
export function getCaseInsensitive(obj: Record<string, unknown>, key: string, scalar = false): unknown {
  // A fold never changes a string's length in UTF-16 units (see goFoldName).
  let folded: string | undefined;
  let found: unknown = undefined;
  for (const k of Object.keys(obj)) {
    if (k.length !== key.length) continue;
    if (k !== key && goFoldName(k) !== (folded ??= goFoldName(key))) continue;
    if (!(scalar && obj[k] === null && found !== undefined)) found = obj[k];
  }
  return found;
}

/**
 * The same along a path of nested objects, read as Go decodes a document into nested structs (TIB's
 * tib.conf): every spelling of a step's key is decoded into the same struct in document order, so
 * two spellings of an object merge (the later one wins field by field), and a JSON null, or a value
 * that is not an object where a struct is expected (Go's type error, decoding goes on), changes
 * nothing. The last step answers its last non-null match; undefined when there is none.
 */
export function getPathCaseInsensitive(obj: unknown, ...keys: string[]): unknown {
  if (keys.length === 0) return obj;
  if (!isPlainObject(obj)) return undefined;
  const [key, ...rest] = keys;
  const folded = goFoldName(key);
  let found: unknown = undefined;
  for (const k of Object.keys(obj)) {
    if (k.length !== key.length || (k !== key && goFoldName(k) !== folded)) continue;
    const v = rest.length === 0 ? obj[k] : getPathCaseInsensitive(obj[k], ...rest);
    if (v !== undefined && v !== null) found = v;
  }
  return found;
}
