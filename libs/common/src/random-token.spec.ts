import { randomBase64url } from './random-token.js';

describe('randomBase64url', () => {
  it('should return base64url text of the requested length in bytes', () => {
    expect(randomBase64url(32)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomBase64url(24)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(randomBase64url(7), 'base64url')).toHaveLength(7);
  });

  it('should never hand out the same bytes twice, across many pool refills', () => {
    const seen = new Set<string>();
    // 2,000 × 32 bytes is about 16 refills of the 4 KiB pool; a repeat of 256 random bits is impossible.
    for (let i = 0; i < 2000; i++) seen.add(randomBase64url(32));
    expect(seen.size).toBe(2000);
  });

  it('should spread its bits evenly (no zeroed or reused part of the pool)', () => {
    let ones = 0;
    const n = 4000;
    for (let i = 0; i < n; i++) {
      for (const byte of Buffer.from(randomBase64url(16), 'base64url')) {
        for (let b = byte; b; b >>= 1) ones += b & 1;
      }
    }
    const bits = n * 16 * 8;
    // Binomial(512,000, 0.5): the standard deviation is about 358 bits; 10 of them is never reached by chance.
    expect(Math.abs(ones - bits / 2)).toBeLessThan(3600);
  });

  it('should refuse a size it cannot serve', () => {
    expect(() => randomBase64url(0)).toThrow(RangeError);
    expect(() => randomBase64url(4097)).toThrow(RangeError);
    expect(() => randomBase64url(1.5)).toThrow(RangeError);
  });
});
