/**
 * Byte-level compatibility with what TIB (a Go program) puts on the wire. The Dashboard and the
 * portal are external systems that were only ever tested against TIB, so the broker encodes the
 * same way: Go's `json.Marshal` escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings, and Go's
 * `url.QueryEscape` escapes everything but `A-Z a-z 0-9 - _ . ~` and turns a space into `+`.
 */

const GO_HTML_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/**
 * `JSON.stringify` with Go's default HTML escaping. Key order is the insertion order of the
 * objects passed in, so callers build objects in Go struct order (and sort Go map keys).
 */
export function goJsonStringify(value: unknown): string {
  // These characters can only occur inside JSON strings, so a global replace is safe.
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => GO_HTML_ESCAPES[c]);
}

/** Go's `url.QueryEscape`: stricter than encodeURIComponent (`!'()*` escaped) and space → `+`. */
export function goQueryEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/** A Go map serialises with its keys sorted; this returns a copy with sorted keys. */
export function goSortedMap<T>(map: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(map).sort()) {
    out[key] = map[key];
  }
  return out;
}
