import { clipText, jsonTextProblems, safeJson, safeText, unsafeTextReason } from './safe-text.js';

describe('safe text (what Postgres can store)', () => {
  it('should tell NUL and unpaired surrogates apart from well-formed text, pairs included', () => {
    expect(unsafeTextReason('plain ü 😀')).toBeNull();
    expect(unsafeTextReason('a\u0000')).toMatch(/NUL/);
    for (const lone of ['\ud800', 'x\ud83dy', '\udc00', '😀\ude00', '\ud83d']) {
      expect([lone, unsafeTextReason(lone)]).toEqual([lone, 'must not contain an unpaired UTF-16 surrogate']);
    }
  });

  it('should repair each bad character with U+FFFD and keep good text as it is', () => {
    expect(safeText('a\u0000b\ud800c\udc00😀')).toBe('a\ufffdb\ufffdc\ufffd😀');
    const clean = 'nothing to do 😀';
    expect(safeText(clean)).toBe(clean);
  });

  it('should clip without splitting a surrogate pair', () => {
    expect(clipText('ab😀', 3)).toBe('ab');
    expect(clipText('ab😀', 4)).toBe('ab😀');
    expect(clipText('abc', 10)).toBe('abc');
    expect(unsafeTextReason(clipText('😀'.repeat(10), 7))).toBeNull();
  });

  it('should name every bad string and key with its path, in document order, and apply the limits', () => {
    const doc = {
      a: ['ok', 'x\u0000'],
      b: { ['k\ud800']: 1, long: 'xxxxx' },
      c: Array.from({ length: 4 }, () => 0),
    };
    expect(jsonTextProblems(doc, { maxStringLength: 4, maxEntries: 3 })).toEqual([
      { path: 'a[1]', reason: 'must not contain a NUL character (U+0000)' },
      { path: 'b.k\ufffd', reason: 'key must not contain an unpaired UTF-16 surrogate' },
      { path: 'b.long', reason: 'must be at most 4 characters' },
      { path: 'c', reason: 'must have at most 3 entries' },
    ]);
    expect(jsonTextProblems({ fine: ['😀', { n: null, t: true, x: 1 }] })).toEqual([]);
  });

  it('should walk a deep document without exhausting the stack and report at most 20 problems', () => {
    let deep: unknown = 'end';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonTextProblems(deep, { maxDepth: 16 })).toEqual([
      { path: '[0]'.repeat(16), reason: 'nests deeper than 16 levels' },
    ]);
    expect(jsonTextProblems(deep)).toEqual([]);
    expect(jsonTextProblems(Array.from({ length: 50 }, () => '\u0000'))).toHaveLength(20);
  });

  it('should copy a value with every string clipped first and repaired, keys included', () => {
    expect(safeJson({ ['k\u0000']: ['😀😀', 'ab\ud800'], n: 1, d: null }, 3)).toEqual({
      'k\ufffd': ['😀', 'ab\ufffd'],
      n: 1,
      d: null,
    });
  });
});
