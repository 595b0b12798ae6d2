import { createHash } from 'node:crypto';
import {
  GENESIS_HASH,
  canonicalEventJson,
  canonicalJson,
  chainHash,
  plainJson,
  type ChainedEventFields,
} from './audit-chain.js';

/** The recursive canonicalJson the chain was sealed with until it became iterative: same output required. */
function recursiveCanonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map((item) => recursiveCanonicalJson(item)).join(',')}]`;
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${recursiveCanonicalJson(obj[k])}`).join(',')}}`;
  }
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
  return JSON.stringify(value);
}

/** A pseudo-random JSON value (deterministic: a fixed linear congruential generator). */
function randomJson(seed: number): unknown {
  let x = seed;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const scalars = [0, -0, 1.5, 1e21, 5e-324, -7, '', 'é', 'a"b\\c\n', '\u2028', '10', true, false, null];
  const make = (depth: number): unknown => {
    const kind = depth > 5 ? 0 : rnd(4);
    if (kind === 0) return scalars[rnd(scalars.length)];
    if (kind === 1) return Array.from({ length: rnd(4) }, () => make(depth + 1));
    const obj: Record<string, unknown> = {};
    for (let i = rnd(5); i > 0; i--) obj[['b', 'a', '10', '2', 'é', 'Z', ''][rnd(7)]] = make(depth + 1);
    return obj;
  };
  return make(0);
}

const event: ChainedEventFields = {
  id: '42',
  occurred_at: '2025-01-31T12:00:00.123456Z',
  type: 'login.failed',
  outcome: 'failure',
  reason: 'state_invalid',
  actor: 'anonymous',
  target: null,
  profile_id: 'p1',
  developer_id: null,
  organisation_id: 'org-1',
  ip: '203.0.113.9',
  user_agent: 'curl/8',
  request_id: 'r-1',
  details: { z: 1, a: { y: [3, { c: true, b: null }], x: 'é' } },
};

describe('canonicalJson', () => {
  it('should write what the recursive version wrote (and plainJson what JSON.stringify writes)', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const value = JSON.parse(JSON.stringify(randomJson(seed))) as unknown;
      expect(canonicalJson(value)).toBe(recursiveCanonicalJson(value));
      expect(plainJson(value)).toBe(JSON.stringify(value));
    }
    expect(canonicalJson({ a: [undefined, 1n, Number.NaN], b: undefined })).toBe('{"a":[null,"1",null]}');
  });

  it('should not overflow the stack on deeply nested input (a crafted details row)', () => {
    const depth = 200_000;
    const text = `${'[{"a":'.repeat(depth)}1${'}]'.repeat(depth)}`;
    const value = JSON.parse(text) as unknown;
    expect(() => JSON.stringify(value)).toThrow(RangeError);
    expect(canonicalJson(value)).toBe(text);
    expect(plainJson(value)).toBe(text);
  });

  it('should sort keys at every depth and keep array order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }, 'x'] })).toBe('{"a":[{"c":2,"d":1},"x"],"b":1}');
  });

  it('should drop undefined members and write null for null', () => {
    expect(canonicalJson({ a: undefined, b: null })).toBe('{"b":null}');
  });

  it('should give the same text whatever the key order of the input', () => {
    const reordered = { ...event, details: { a: { x: 'é', y: [3, { b: null, c: true }] }, z: 1 } };
    expect(canonicalEventJson(reordered)).toBe(canonicalEventJson(event));
  });

  it('should cover exactly the fixed field list and not the chain columns', () => {
    const withChain = { ...event, seq: '7', hash: 'f'.repeat(64), prev_hash: '0'.repeat(64) } as ChainedEventFields;
    const parsed = JSON.parse(canonicalEventJson(withChain)) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual([
      'actor',
      'details',
      'developer_id',
      'id',
      'ip',
      'occurred_at',
      'organisation_id',
      'outcome',
      'profile_id',
      'reason',
      'request_id',
      'target',
      'type',
      'user_agent',
    ]);
  });
});

describe('chainHash', () => {
  it('should be SHA-256 of the previous hash followed by the canonical JSON', () => {
    const expected = createHash('sha256')
      .update(GENESIS_HASH + canonicalEventJson(event))
      .digest('hex');
    expect(chainHash(GENESIS_HASH, event)).toBe(expected);
    expect(chainHash(GENESIS_HASH, event)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('should change when any field or the previous hash changes', () => {
    const base = chainHash(GENESIS_HASH, event);
    expect(chainHash(GENESIS_HASH, { ...event, reason: 'nonce_mismatch' })).not.toBe(base);
    expect(chainHash(GENESIS_HASH, { ...event, occurred_at: '2025-01-31T12:00:00.123457Z' })).not.toBe(base);
    expect(chainHash(GENESIS_HASH, { ...event, details: { z: 2 } })).not.toBe(base);
    expect(chainHash('1'.repeat(64), event)).not.toBe(base);
  });
});

describe('canonicalEventJson', () => {
  it('should equal canonicalJson over the fixed fields', () => {
    const picked = Object.fromEntries(Object.entries(event));
    expect(canonicalEventJson(event)).toBe(canonicalJson(picked));
    const sparse = { ...event, reason: null, details: null, ip: undefined } as unknown as ChainedEventFields;
    expect(canonicalEventJson(sparse)).toBe(canonicalJson({ ...sparse, ip: null }));
  });
});
