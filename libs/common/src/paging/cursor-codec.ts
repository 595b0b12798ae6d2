import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DomainError } from '../domain-error.js';

/**
 * JSON with object keys sorted at every level (undefined members left out; non-finite numbers
 * as null, bigints as strings): the same text for the same filters whatever order they were
 * built in. Byte for byte the audit chain's canonicalJson, so fingerprints of cursors handed out
 * before the paging kit moved here still match.
 */
function sortedJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((item) => sortedJson(item)).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${sortedJson(obj[k])}`).join(',')}}`;
  }
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
  return JSON.stringify(value);
}

/**
 * Opaque page cursors: `<payload>.<mac>`, where the payload is base64url of `{ v, p, f }` (`p` the
 * keyset position, i.e. the last row's key; `f` a fingerprint of the filters the page was asked
 * with) and the MAC an HMAC-SHA-256 of it under a key derived from TYK_IB_SESSION_SECRET. A cursor
 * the broker did not make is refused before anything in it is read, so no hand-made position
 * (an id past int8, a time of "1") ever reaches SQL; one replayed with other filters is refused
 * too, so a client cannot splice two result sets together.
 */
export function filterFingerprint(filters: Record<string, unknown>): string {
  return createHash('sha256').update(sortedJson(filters)).digest('base64url').slice(0, 16);
}

/** 128 bits of HMAC-SHA-256: forging one is as hard as guessing the key. */
const MAC_BYTES = 16;
const CURSOR_SHAPE = /^[A-Za-z0-9_-]{1,480}\.[A-Za-z0-9_-]{22}$/;

/** `cursor_invalid` (400) naming the parameter. */
export function cursorInvalid(parameter: string, why = 'not a cursor returned by this API'): DomainError {
  return new DomainError('cursor_invalid', `${parameter}: ${why}`, { parameter });
}

/**
 * Makes and checks the signed cursors of every paged list (audit events, developers, logins).
 * AuditModule provides the broker's one instance (keyed from the session secret).
 */
export class CursorCodec {
  constructor(private readonly key: Buffer) {}

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.key).update(payload).digest().subarray(0, MAC_BYTES);
  }

  encode(position: Record<string, string>, fingerprint: string): string {
    const payload = Buffer.from(JSON.stringify({ v: 1, p: position, f: fingerprint }), 'utf8').toString('base64url');
    return `${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /**
   * The position of a cursor this codec made for the same filters; `keys` are the fields it must
   * carry. Anything else is `cursor_invalid` naming the parameter.
   */
  decode(raw: string, fingerprint: string, keys: readonly string[], parameter = 'cursor'): Record<string, string> {
    if (raw.length > 512 || !CURSOR_SHAPE.test(raw)) throw cursorInvalid(parameter);
    const [payload, mac] = raw.split('.') as [string, string];
    const presented = Buffer.from(mac, 'base64url');
    if (presented.length !== MAC_BYTES || !timingSafeEqual(presented, this.mac(payload))) {
      throw cursorInvalid(parameter);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw cursorInvalid(parameter);
    }
    const c = parsed as { v?: unknown; p?: unknown; f?: unknown } | null;
    if (!c || c.v !== 1 || typeof c.p !== 'object' || c.p === null || typeof c.f !== 'string') {
      throw cursorInvalid(parameter);
    }
    const position = c.p as Record<string, unknown>;
    const out: Record<string, string> = {};
    for (const key of keys) {
      const value = position[key];
      if (typeof value !== 'string') throw cursorInvalid(parameter);
      out[key] = value;
    }
    if (c.f !== fingerprint) {
      throw cursorInvalid(
        parameter,
        'this cursor belongs to a query with other filters; repeat the filters of the first page',
      );
    }
    return out;
  }
}
