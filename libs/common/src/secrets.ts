import { goFoldName, setOwn } from './go-json.js';
/** Object keys whose values are never written to a log or an audit record. */
const SECRET_KEY_PATTERN =
  /(secret|token|password|passwd|credential|verifier|authorization|cookie|^key$|^code$|^nonce$|^state$|^admin-auth$)/i;

export const MASK = '********';

/**
 * Matched on the key as Go's encoding/json folds it (goFoldName), because profile keys are read
 * that way: `ſecret` (U+017F) is read as Secret and `\u212Aey` (Kelvin sign) as Key, so they are
 * masked as such.
 */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_PATTERN.test(goFoldName(key));
}

/**
 * Deep copy of a JSON value with every secret-looking key masked. Used for audit diffs and for
 * printing configuration; keeps the shape so a reader can see that a secret is set.
 */
export function maskSecrets<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.map((item: unknown) => maskSecrets(item)) as T;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const scalar = typeof v === 'string' || typeof v === 'number';
      setOwn(out, k, isSecretKey(k) && scalar && v !== '' ? MASK : maskSecrets(v));
    }
    return out as T;
  }
  if (typeof value === 'string') {
    // Passwords inside connection URLs (postgres://user:password@host/db).
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]+:)[^@/]+@/i, `$1${MASK}@`) as T;
  }
  return value;
}

/**
 * Replaces every occurrence of the given secret values in a string. Pino's path redaction covers
 * known fields; this catches a configured secret that ends up inside a message or a URL.
 */
export function scrubValues(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4 && out.includes(secret)) {
      out = out.split(secret).join(MASK);
    }
  }
  return out;
}
