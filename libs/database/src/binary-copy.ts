/**
 * The decoder of `COPY … TO STDOUT (FORMAT binary)`: its framing (signature, header, one row per
 * CopyData message, trailer) and its field values written as Postgres' own text output writes
 * them (int8out, uuid_out, to_char of a timestamptz, jsonb's text made compact), straight from
 * the message bytes into an output buffer, with no per-field JavaScript strings or objects.
 * Each writer takes (src, p, dst, q), writes at dst[q…] and returns the new end; the caller
 * makes room first (see each writer for how much).
 */

const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** The version byte that starts a jsonb value in binary form. */
const JSONB_VERSION = 1;
const HEX_DIGITS = Buffer.from('0123456789abcdef');

const US_PER_MINUTE = 60_000_000;
const MINUTES_1970_TO_2000 = 10_957 * 1440;
// Postgres' timestamp infinities (int64 max and min).
const INFINITY_HI = 0x7fffffff;
const MINUS_INFINITY_HI = -0x80000000;
// |microseconds| below 2^53: the high word within ±2^21.
const SAFE_HI = 0x200000;

/**
 * Where the fields of the row in one CopyData message start (after its int16 field count), or
 * -1 when the message holds no row (the header alone, or the trailer). The header may come alone
 * or before the first row; Postgres sends exactly one row per message. Throws when the stream is
 * not binary COPY or the row has another number of fields than `fieldCount`.
 */
export function copyRowStart(msg: Buffer, fieldCount: number): number {
  let p = 0;
  if (msg[0] === COPY_SIGNATURE[0]) {
    if (msg.length < 19 || msg.compare(COPY_SIGNATURE, 0, 11, 0, 11) !== 0) {
      throw new Error('binary COPY: not a binary COPY stream');
    }
    p = 19 + msg.readInt32BE(15);
    if (p >= msg.length) return -1;
  }
  const fields = msg.readInt16BE(p);
  if (fields === -1) return -1;
  if (fields !== fieldCount) throw new Error(`binary COPY: row with ${fields} fields, expected ${fieldCount}`);
  return p + 2;
}

/** int8 from 8 big-endian bytes, as int8out writes it (at most 20 bytes). */
export function writeInt8(src: Buffer, p: number, dst: Buffer, q: number): number {
  const hi = src.readInt32BE(p);
  if (hi < 0 || hi >= SAFE_HI) {
    const s = src.readBigInt64BE(p).toString();
    for (let i = 0; i < s.length; i++) dst[q++] = s.charCodeAt(i);
    return q;
  }
  let v = hi * 0x1_0000_0000 + src.readUInt32BE(p + 4);
  let digits = 1;
  for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
  const end = q + digits;
  for (let k = end - 1; k >= q; k--) {
    dst[k] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
  return end;
}

/** uuid_out: lower-case hex, 8-4-4-4-12 (36 bytes). */
export function writeUuid(src: Buffer, p: number, dst: Buffer, q: number): number {
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) dst[q++] = 0x2d;
    const x = src[p + i];
    dst[q++] = HEX_DIGITS[x >> 4];
    dst[q++] = HEX_DIGITS[x & 15];
  }
  return q;
}

/** False for Postgres' `infinity` and `-infinity` timestamps. */
export function isFiniteTimestamp(src: Buffer, p: number): boolean {
  const hi = src.readInt32BE(p);
  const lo = src.readUInt32BE(p + 4);
  return !((hi === INFINITY_HI && lo === 0xffffffff) || (hi === MINUS_INFINITY_HI && lo === 0));
}

/**
 * Writes finite timestamptz values (int64 microseconds since 2000-01-01 00:00 UTC) as
 * to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') does (at most 34 bytes). One
 * per column: it keeps the text up to the minute, which changes seldom from one row to the next.
 */
export class TimestampWriter {
  private minute = NaN;
  private prefix = Buffer.alloc(0);

  write(src: Buffer, p: number, dst: Buffer, q: number): number {
    const hi = src.readInt32BE(p);
    let minute: number;
    let us: number;
    if (hi >= -SAFE_HI && hi < SAFE_HI) {
      const v = hi * 0x1_0000_0000 + src.readUInt32BE(p + 4);
      // Exact: |v| < 2^53 makes |v / 6e7| < 2^28, whose rounding (at most 2^-26) is finer than
      // the 1/6e7 between a minute's last microsecond and the next minute.
      minute = Math.floor(v / US_PER_MINUTE);
      us = v - minute * US_PER_MINUTE;
    } else {
      const v = src.readBigInt64BE(p);
      let m = v / 60_000_000n;
      let r = v - m * 60_000_000n;
      if (r < 0n) {
        m -= 1n;
        r += 60_000_000n;
      }
      minute = Number(m);
      us = Number(r);
    }
    if (this.minute !== minute) {
      this.minute = minute;
      this.prefix = Buffer.from(minutePrefix(minute), 'latin1');
    }
    const prefix = this.prefix;
    for (let i = 0; i < prefix.length; i++) dst[q++] = prefix[i];
    // Below 60,000,000: small-integer arithmetic from here.
    const secs = (us / 1_000_000) | 0;
    let frac = us - secs * 1_000_000;
    dst[q++] = 0x30 + ((secs / 10) | 0);
    dst[q++] = 0x30 + (secs % 10);
    dst[q++] = 0x2e;
    for (let k = 5; k >= 0; k--) {
      dst[q + k] = 0x30 + (frac % 10);
      frac = (frac / 10) | 0;
    }
    q += 6;
    dst[q++] = 0x5a; // Z
    return q;
  }
}

/**
 * `YYYY-MM-DD"T"` of a day (days since 1970-01-01, proleptic Gregorian, as Postgres counts) the
 * way to_char(…, 'YYYY-MM-DD"T"') writes it: years zero-padded to four digits, BC years as their
 * positive number (Postgres' YYYY has no era sign), longer years in full.
 */
export function isoDatePrefix(days: number): string {
  // Howard Hinnant's civil_from_days.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const y = year <= 0 ? 1 - year : year;
  return `${String(y).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T`;
}

/** `YYYY-MM-DD"T"HH24:MI:` of a minute since 2000-01-01 00:00 UTC. */
function minutePrefix(minute: number): string {
  const m = minute + MINUTES_1970_TO_2000;
  const days = Math.floor(m / 1440);
  const ofDay = m - days * 1440;
  const hh = Math.floor(ofDay / 60);
  const mm = ofDay - hh * 60;
  return `${isoDatePrefix(days)}${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:`;
}

/** Where the text of a binary jsonb value starting at `s` starts (after its version byte). */
export function jsonbTextStart(src: Buffer, s: number): number {
  if (src[s] !== JSONB_VERSION) throw new Error(`binary COPY: jsonb version ${src[s]}`);
  return s + 1;
}

/**
 * jsonb's text (`{"a": 1, "b": [true, null]}`) without the blanks after `,` and `:`, written
 * into `dst` from `at`; returns the end, or -1 when JSON.stringify(JSON.parse(text)) could differ
 * from that: a key made of digits only (JavaScript puts integer-like keys first), or a number
 * that JavaScript would print otherwise (more than 15 digits, a fraction ending in 0, below
 * 1e-6, an exponent, -0). Strings are kept as they are: Postgres escapes them exactly as
 * JSON.stringify does. `dst` must have room for `e - s` bytes.
 */
export function compactJsonb(src: Buffer, s: number, e: number, dst: Buffer, at: number): number {
  let q = at;
  let i = s;
  while (i < e) {
    const x = src[i];
    if (x === 0x22) {
      const st = i++;
      let digitsOnly = true;
      for (;;) {
        if (i >= e) return -1;
        const y = src[i];
        if (y === 0x22) break;
        if (y === 0x5c) {
          i += 2;
          digitsOnly = false;
          continue;
        }
        if (y < 0x30 || y > 0x39) digitsOnly = false;
        i++;
      }
      i++;
      // `"123": ` is a key.
      if (digitsOnly && i - st > 2 && src[i] === 0x3a) return -1;
      for (let k = st; k < i; k++) dst[q++] = src[k];
    } else if (x === 0x2c || x === 0x3a) {
      dst[q++] = x;
      i++;
      if (src[i] === 0x20) i++;
    } else if (x === 0x2d || (x >= 0x30 && x <= 0x39)) {
      const st = i;
      if (x === 0x2d) i++;
      const intStart = i;
      let digits = 0;
      let dot = -1;
      for (; i < e; i++) {
        const y = src[i];
        if (y >= 0x30 && y <= 0x39) digits++;
        else if (y === 0x2e && dot < 0) dot = i;
        else break;
      }
      if (i < e && (src[i] === 0x65 || src[i] === 0x45 || src[i] === 0x2e)) return -1; // exponent
      if (digits === 0 || digits > 15) return -1;
      const intEnd = dot < 0 ? i : dot;
      if (x === 0x2d && intEnd - intStart === 1 && src[intStart] === 0x30 && dot < 0) return -1; // -0
      if (dot >= 0) {
        if (dot === i - 1 || src[i - 1] === 0x30) return -1; // 1.  1.50
        if (intEnd - intStart === 1 && src[intStart] === 0x30) {
          let zeros = 0;
          for (let k = dot + 1; k < i && src[k] === 0x30; k++) zeros++;
          if (zeros >= 6) return -1; // below 1e-6: JavaScript writes 1e-7
        }
      }
      for (let k = st; k < i; k++) dst[q++] = src[k];
    } else if (x === 0x20) {
      i++;
    } else {
      dst[q++] = x;
      i++;
    }
  }
  return q;
}
