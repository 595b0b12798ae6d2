import { createHash } from 'node:crypto';
import { DomainError } from '@app/common';
import { canonicalJson } from './audit-chain.js';

/**
 * Opaque page cursors: base64url of `{ v, p, f }` where `p` is the keyset position (the last
 * row's key) and `f` a fingerprint of the filters the page was asked with. A cursor replayed
 * with other filters is refused, so a client cannot splice two result sets together.
 */
export function filterFingerprint(filters: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(filters)).digest('base64url').slice(0, 16);
}

export function encodeCursor(position: Record<string, string>, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ v: 1, p: position, f: fingerprint }), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor made by encodeCursor for the same filters; `keys` are the position fields it
 * must carry. Any problem is a `validation_failed` naming the parameter.
 */
export function decodeCursor(
  raw: string,
  fingerprint: string,
  keys: readonly string[],
  parameter = 'cursor',
): Record<string, string> {
  const bad = (why: string) => new DomainError('validation_failed', `${parameter}: ${why}`, { parameter });
  if (raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) {
    throw bad('not a cursor returned by this API');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw bad('not a cursor returned by this API');
  }
  const c = parsed as { v?: unknown; p?: unknown; f?: unknown } | null;
  if (!c || c.v !== 1 || typeof c.p !== 'object' || c.p === null || typeof c.f !== 'string') {
    throw bad('not a cursor returned by this API');
  }
  const position = c.p as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of keys) {
    const value = position[key];
    if (typeof value !== 'string') {
      throw bad('not a cursor returned by this API');
    }
    out[key] = value;
  }
  if (c.f !== fingerprint) {
    throw bad('this cursor belongs to a query with other filters; repeat the filters of the first page');
  }
  return out;
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
