import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DomainError } from '@app/common';
import { canonicalJson } from './audit-chain.js';

/**
 * Opaque page cursors: `<payload>.<mac>`, where the payload is base64url of `{ v, p, f }` (`p` the
 * keyset position, i.e. the last row's key; `f` a fingerprint of the filters the page was asked
 * with) and the MAC an HMAC-SHA-256 of it under a key derived from TYK_IB_SESSION_SECRET. A cursor
 * the broker did not make is refused before anything in it is read, so no hand-made position
 * (an id past int8, a time of "1") ever reaches SQL; one replayed with other filters is refused
 * too, so a client cannot splice two result sets together.
 */
export function filterFingerprint(filters: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(filters)).digest('base64url').slice(0, 16);
}

/** 128 bits of HMAC-SHA-256: forging one is as hard as guessing the key. */
const MAC_BYTES = 16;
const CURSOR_SHAPE = /^[A-Za-z0-9_-]{1,480}\.[A-Za-z0-9_-]{22}$/;

/** `cursor_invalid` (400) naming the parameter. */
export function cursorInvalid(parameter: string, why = 'not a cursor returned by this API'): DomainError {
  return new DomainError('cursor_invalid', `${parameter}: ${why}`, { parameter });
}

/** Makes and checks the signed cursors of every paged list (audit events, developers, logins). */
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

/**
 * The `Link: <…>; rel="next"` header value for the next page: the same request (path and every
 * query parameter, repeated ones included) with `cursor` replaced, under the public base URL.
 */
export function nextPageLink(originalUrl: string, publicUrl: string, cursor: string): string {
  const url = new URL(originalUrl, 'http://broker.invalid');
  url.searchParams.set('cursor', cursor);
  return `<${publicUrl.replace(/\/+$/, '')}${url.pathname}${url.search}>; rel="next"`;
}
