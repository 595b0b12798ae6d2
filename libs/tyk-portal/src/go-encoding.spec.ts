import { getCaseInsensitive } from '@app/common';
import { goJsonStringify, goQueryEscape, goSortedMap } from './go-encoding.js';

describe('goJsonStringify', () => {
  it('should escape <, >, & and the JS line separators as Go json.Marshal does', () => {
    expect(goJsonStringify({ DisplayName: 'Tom & <Jerry>', x: '\u2028\u2029' })).toBe(
      '{"DisplayName":"Tom \\u0026 \\u003cJerry\\u003e","x":"\\u2028\\u2029"}',
    );
  });

  it('should keep the key order it is given and round-trip through JSON.parse', () => {
    const value = { b: 1, a: ['<x>'], c: null };
    const text = goJsonStringify(value);
    expect(text.startsWith('{"b":1,"a":')).toBe(true);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('goQueryEscape', () => {
  it("should match Go url.QueryEscape: space as +, and !'()* escaped", () => {
    expect(goQueryEscape("a b!'()*~-_.@/:?=&")).toBe('a+b%21%27%28%29%2A~-_.%40%2F%3A%3F%3D%26');
    expect(goQueryEscape('{"a":"é"}')).toBe('%7B%22a%22%3A%22%C3%A9%22%7D');
  });
});

describe('goSortedMap and getCaseInsensitive', () => {
  it('should sort map keys as Go marshals maps', () => {
    expect(Object.keys(goSortedMap({ Origin: 1, AccessToken: 2, AuthProviderUserID: 3 }))).toEqual([
      'AccessToken',
      'AuthProviderUserID',
      'Origin',
    ]);
  });

  it('should prefer the exact key, then match any case', () => {
    expect(getCaseInsensitive({ meta: 1, Meta: 2 }, 'Meta')).toBe(2);
    expect(getCaseInsensitive({ META: 3 }, 'Meta')).toBe(3);
    expect(getCaseInsensitive({}, 'Meta')).toBeUndefined();
  });
});
