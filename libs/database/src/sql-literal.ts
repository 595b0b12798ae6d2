/**
 * SQL literals for statements that take no bind parameters (COPY): a parameterised query's
 * `$1…$n` replaced by literals of its values.
 */

/**
 * A SQL literal: strings as E'…' with `\` and `'` doubled (the same whatever
 * standard_conforming_strings says), string arrays as ARRAY[…]::text[], times as ISO-8601
 * timestamptz, whole numbers as they are.
 */
export function sqlLiteral(value: unknown): string {
  if (typeof value === 'string') {
    if (value.includes('\0')) throw new TypeError('sql literal: NUL in a filter value');
    return `E'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  }
  if (Array.isArray(value)) {
    return value.length === 0 ? `'{}'::text[]` : `ARRAY[${value.map((v) => sqlLiteral(v)).join(', ')}]::text[]`;
  }
  if (value instanceof Date) return `${sqlLiteral(timestampText(value))}::timestamptz`;
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value))) return String(value);
  throw new TypeError(`sql literal: no literal for ${typeof value}`);
}

/**
 * A time as the bind path (pg) writes it. toISOString() writes year 0 as `0000` and years past
 * 9999 as `+010000`, both of which Postgres refuses; pg writes `0001 … BC` and `10000`, which it
 * takes, so a filter value means the same in COPY as in a query.
 */
function timestampText(date: Date): string {
  const iso = date.toISOString();
  const year = date.getUTCFullYear();
  if (year >= 1 && year <= 9999) return iso;
  const rest = iso.replace(/^[+-]?\d+/, '').replace(/Z$/, '+00:00');
  return year < 1 ? `${String(1 - year).padStart(4, '0')}${rest} BC` : `${year}${rest}`;
}

/** `sql` with its $1…$n replaced by literals of `params` (one pass: literals are not rescanned). */
export function inlineParams(sql: string, params: readonly unknown[]): string {
  return sql.replace(/\$(\d+)/g, (_, n: string) => {
    const i = Number(n) - 1;
    if (i < 0 || i >= params.length) throw new RangeError(`sql literal: no parameter $${n}`);
    return sqlLiteral(params[i]);
  });
}
