import { inlineParams, sqlLiteral } from './sql-literal.js';

describe('filter literals for COPY', () => {
  it('should write strings, lists, times and whole numbers as SQL literals', () => {
    expect(sqlLiteral("it's a \\ test")).toBe("E'it''s a \\\\ test'");
    expect(sqlLiteral(['a', "b'"])).toBe("ARRAY[E'a', E'b''']::text[]");
    expect(sqlLiteral([])).toBe("'{}'::text[]");
    expect(sqlLiteral(new Date('2025-01-31T12:00:00Z'))).toBe("E'2025-01-31T12:00:00.000Z'::timestamptz");
    expect(sqlLiteral(42)).toBe('42');
    // Outside years 1 to 9999 as pg binds a Date (Postgres refuses toISOString's 0000 and +010000).
    expect(sqlLiteral(new Date('0000-01-01T00:00:00Z'))).toBe("E'0001-01-01T00:00:00.000+00:00 BC'::timestamptz");
    expect(sqlLiteral(new Date(Date.UTC(-1, 11, 31, 23, 59, 59, 5)))).toBe(
      "E'0002-12-31T23:59:59.005+00:00 BC'::timestamptz",
    );
    expect(sqlLiteral(new Date('+010000-01-01T04:00:00Z'))).toBe("E'10000-01-01T04:00:00.000+00:00'::timestamptz");
    expect(() => sqlLiteral('a\0b')).toThrow(/NUL/);
    expect(() => sqlLiteral({})).toThrow(/no literal/);
    expect(() => sqlLiteral(1.5)).toThrow(/no literal/);
  });

  it('should replace each placeholder once, $10 apart from $1, without rescanning what it wrote', () => {
    const params = ['$2', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    expect(inlineParams('x = $1 AND y = $10 AND z = $2', params)).toBe("x = E'$2' AND y = E'j' AND z = E'b'");
    expect(() => inlineParams('x = $3', ['a'])).toThrow(/no parameter \$3/);
  });
});
