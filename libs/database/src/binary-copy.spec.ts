import fc from 'fast-check';
import { compactJsonb, copyRowStart, isoDatePrefix, writeInt8, writeUuid } from './binary-copy.js';

describe('compactJsonb', () => {
  const compact = (text: string): string | null => {
    const src = Buffer.from(text);
    const dst = Buffer.alloc(src.length);
    const end = compactJsonb(src, 0, src.length, dst, 0);
    return end < 0 ? null : dst.toString('utf8', 0, end);
  };

  it('should drop the blanks jsonb writes between tokens and keep strings as they are', () => {
    expect(compact('{"a": 1, "b": [true, null, "x, y: \\"z\\": w\\\\"], "c": {}}')).toBe(
      '{"a":1,"b":[true,null,"x, y: \\"z\\": w\\\\"],"c":{}}',
    );
    expect(compact('[-12.5, 0.000001, 123456789012345, 0]')).toBe('[-12.5,0.000001,123456789012345,0]');
  });

  it('should give up where JSON.parse and JSON.stringify would change the text', () => {
    for (const text of [
      '{"10": 1, "a": 2}',
      '{"a": 1.50}',
      '[1.0]',
      '[1234567890123456]',
      '[0.0000001]',
      '[1e5]',
      '[-0]',
      '{"a": "unterminated',
    ]) {
      expect([text, compact(text)]).toEqual([text, null]);
    }
  });
});

describe('isoDatePrefix', () => {
  it('should write the date as Date does for years 1 to 9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: -719_162, max: 2_932_896 }), (days) => {
        expect(isoDatePrefix(days)).toBe(new Date(days * 86_400_000).toISOString().slice(0, 11));
      }),
    );
  });

  it('should write BC years and years past 9999 as Postgres YYYY does', () => {
    expect(isoDatePrefix(-719_163)).toBe('0001-12-31T'); // 31 December 1 BC
    expect(isoDatePrefix(-2_440_588)).toBe('4714-11-24T'); // Julian day 0: 24 November 4714 BC
    expect(isoDatePrefix(2_932_897)).toBe('10000-01-01T');
  });
});

describe('binary COPY values', () => {
  const int8 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(v);
    return b;
  };

  it('should write int8 as int8out does, on both sides of 2^53 and below zero', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (v) => {
        const dst = Buffer.alloc(24);
        const end = writeInt8(int8(v), 0, dst, 2);
        expect(dst.toString('latin1', 2, end)).toBe(String(v));
      }),
    );
  });

  it('should write a uuid in lower-case 8-4-4-4-12 form', () => {
    const dst = Buffer.alloc(36);
    const end = writeUuid(Buffer.from('0123456789ABCDEF0123456789abcdef', 'hex'), 0, dst, 0);
    expect(dst.toString('latin1', 0, end)).toBe('01234567-89ab-cdef-0123-456789abcdef');
  });

  it('should find the fields of a row after the header, and no row in the header or trailer alone', () => {
    const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
    const row = Buffer.from([0, 1, 0, 0, 0, 1, 0x41]);
    expect(copyRowStart(header, 1)).toBe(-1);
    expect(copyRowStart(Buffer.concat([header, row]), 1)).toBe(header.length + 2);
    expect(copyRowStart(row, 1)).toBe(2);
    expect(copyRowStart(Buffer.from([0xff, 0xff]), 1)).toBe(-1);
    expect(() => copyRowStart(row, 2)).toThrow(/1 fields, expected 2/);
    expect(() => copyRowStart(Buffer.from('PGCOPY\nnot binary at all'), 1)).toThrow(/not a binary COPY/);
  });
});
