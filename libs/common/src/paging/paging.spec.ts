import { CursorCodec, DEFAULT_PAGE_LIMIT, filterFingerprint, nextPageLink, pageLimit } from '@app/common';

describe('the paging kit (@app/common)', () => {
  it('should fingerprint filters exactly as before the move, so cursors already handed out stay valid', () => {
    // Values computed by @app/audit's filterFingerprint before the kit moved to @app/common.
    expect(filterFingerprint({ email: 'a@example.com', organization: null, status: 'blocked' })).toBe(
      '1xL-L-zezIMCiauv',
    );
    expect(filterFingerprint({ types: ['login.*', 'x'], since: null, n: 5, nested: { b: 1, a: [true] } })).toBe(
      'WUjlD0094MfnU4K0',
    );
  });

  it('should hand back the position of its own cursor and refuse one made under another key', () => {
    const codec = new CursorCodec(Buffer.alloc(32, 1));
    const cursor = codec.encode({ id: '7' }, 'f');
    expect(codec.decode(cursor, 'f', ['id'])).toEqual({ id: '7' });
    expect(() => new CursorCodec(Buffer.alloc(32, 2)).decode(cursor, 'f', ['id'])).toThrow(
      expect.objectContaining({ code: 'cursor_invalid' }),
    );
  });

  it('should default the page size and refuse one out of range', () => {
    expect(pageLimit(undefined)).toBe(DEFAULT_PAGE_LIMIT);
    expect(pageLimit('5')).toBe(5);
    expect(() => pageLimit('1001')).toThrow(expect.objectContaining({ code: 'validation_failed' }));
  });

  it('should keep every query parameter in the next-page link and replace only the cursor', () => {
    expect(nextPageLink('/api/x?type=a&type=b&cursor=old', 'https://sso.example/', 'new')).toBe(
      '<https://sso.example/api/x?type=a&type=b&cursor=new>; rel="next"',
    );
  });
});
