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

/**
 * A key folded the way Go's encoding/json folds names to match struct fields (fold.go: each rune
 * replaced by the smallest rune of its `unicode.SimpleFold` orbit, so ASCII letters upper-cased).
 * Of the non-ASCII runes only two fold into ASCII: the Kelvin sign (orbit k, K, U+212A) and the
 * long s (orbit s, S, U+017F); JavaScript's case mappings differ from Go's for both (`'ſ'.toLowerCase()`
 * is `ſ`, `'ı'.toUpperCase()` is `I`, which Go does not fold). Other non-ASCII runes are kept as they
 * are: exact whenever one side is an ASCII name, as every field name here is.
 */
export function goFoldName(key: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(key)) return key.toUpperCase();
  return key.replace(/[a-z\u212a\u017f]/g, (c) => (c === '\u212a' ? 'K' : c === '\u017f' ? 'S' : c.toUpperCase()));
}

/**
 * Reads a key the way Go's encoding/json fills a struct field: every key of the object that
 * equals it or folds to it (`goFoldName`) is decoded into the field in document order, so the last
 * one wins. TIB's files and APIs rely on the folding (`IDPMetaDataURL`, `useproviders`). With
 * `scalar` (a string, bool or number field), a JSON null changes nothing, as in Go (it only zeroes
 * a map, slice, pointer or interface): an earlier match stands.
 */
export function getCaseInsensitive(obj: Record<string, unknown>, key: string, scalar = false): unknown {
  // A fold never changes a string's length in UTF-16 units (the two runes above are single units).
  let folded: string | undefined;
  let found: unknown = undefined;
  for (const k of Object.keys(obj)) {
    if (k.length !== key.length) continue;
    if (k !== key && goFoldName(k) !== (folded ??= goFoldName(key))) continue;
    if (!(scalar && obj[k] === null && found !== undefined)) found = obj[k];
  }
  return found;
}

/** The same along a path of nested objects; undefined as soon as a step is not an object. */
export function getPathCaseInsensitive(obj: unknown, ...keys: string[]): unknown {
  let cur: unknown = obj;
  for (const key of keys) {
    if (!isPlainObject(cur)) return undefined;
    cur = getCaseInsensitive(cur, key);
  }
  return cur;
}
