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
 * Reads a key the way Go's encoding/json matches struct fields: an exact match first, then the
 * first key equal in any case. TIB's files and APIs rely on it (`IDPMetaDataURL`, `useproviders`).
 */
export function getCaseInsensitive(obj: Record<string, unknown>, key: string): unknown {
  if (Object.prototype.hasOwnProperty.call(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  for (const k of Object.keys(obj)) {
    if (k.toLowerCase() === lower) return obj[k];
  }
  return undefined;
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
