/**
 * The portal is a Go program: it decodes request bodies with encoding/json, so keys match
 * case-insensitively, unknown keys are ignored, `null` leaves a field at its zero value and a
 * value of the wrong JSON type fails the whole decode. The emulator decodes the same way, so a
 * client that only works against a lenient fake (or only against a strict one) shows up in tests.
 */

export type GoField = 'string' | 'bool' | 'int' | 'strings' | 'ints' | 'object' | 'any';

type GoValue<F extends GoField> = F extends 'string'
  ? string
  : F extends 'bool'
    ? boolean
    : F extends 'int'
      ? number
      : F extends 'strings'
        ? string[]
        : F extends 'ints'
          ? number[]
          : F extends 'object'
            ? Record<string, unknown>
            : unknown;

export type Decoded<S extends Record<string, GoField>> = { [K in keyof S]?: GoValue<S[K]> };

export class GoDecodeError extends Error {}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function convert(field: GoField, key: string, v: unknown): unknown {
  const fail = (): never => {
    throw new GoDecodeError(`json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v} into field ${key}`);
  };
  switch (field) {
    case 'string':
      return typeof v === 'string' ? v : fail();
    case 'bool':
      return typeof v === 'boolean' ? v : fail();
    case 'int':
      return typeof v === 'number' && Number.isSafeInteger(v) ? v : fail();
    case 'strings':
      if (!Array.isArray(v)) return fail();
      return v.map((item) => (item === null ? '' : typeof item === 'string' ? item : fail()));
    case 'ints':
      if (!Array.isArray(v)) return fail();
      return v.map((item) => (typeof item === 'number' && Number.isSafeInteger(item) ? item : fail()));
    case 'object':
      return isPlainObject(v) ? v : fail();
    case 'any':
      return v;
  }
}

/**
 * Go's fold of a key (encoding/json fold.go: the smallest rune of each rune's SimpleFold orbit):
 * ASCII letters upper-cased, the Kelvin sign to K and the long s to S, every other rune as it is.
 */
const goFold = (key: string) =>
  key.replace(/[a-z\u212a\u017f]/g, (c) => ({ '\u212a': 'K', '\u017f': 'S' })[c] ?? c.toUpperCase());

/** Each schema's keys by their folded form, built once per schema object. */
const lowerKeys = new WeakMap<Record<string, GoField>, Map<string, string>>();
function lowerKeysOf(schema: Record<string, GoField>): Map<string, string> {
  let byLower = lowerKeys.get(schema);
  if (!byLower) {
    byLower = new Map(Object.keys(schema).map((k) => [goFold(k), k]));
    lowerKeys.set(schema, byLower);
  }
  return byLower;
}

/** Decodes a parsed JSON value into the canonical field names of `schema`, the way Go would. */
export function decodeGo<S extends Record<string, GoField>>(value: unknown, schema: S): Decoded<S> {
  if (value === null) return {};
  if (!isPlainObject(value)) {
    throw new GoDecodeError('json: cannot unmarshal a non-object into a struct');
  }
  const byLower = lowerKeysOf(schema);
  const out: Record<string, unknown> = {};
  for (const [rawKey, v] of Object.entries(value)) {
    const key = byLower.get(goFold(rawKey));
    if (key === undefined || v === null) continue;
    out[key] = convert(schema[key], key, v);
  }
  return out as Decoded<S>;
}
