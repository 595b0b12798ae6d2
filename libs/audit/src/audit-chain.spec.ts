import { createHash } from 'node:crypto';
import { GENESIS_HASH, canonicalEventJson, canonicalJson, chainHash, type ChainedEventFields } from './audit-chain.js';

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
