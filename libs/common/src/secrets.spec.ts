import { MASK, maskSecrets } from './secrets.js';

describe('maskSecrets', () => {
  it('should mask secret-looking keys at any depth and keep the shape', () => {
    expect(
      maskSecrets({ Secret: 's3cret', nested: [{ client_secret: 'x', name: 'n' }], empty: { token: '' } }),
    ).toEqual({
      Secret: MASK,
      nested: [{ client_secret: MASK, name: 'n' }],
      empty: { token: '' },
    });
  });

  it('should copy a __proto__ key as an own key, so what it holds is masked and shown, not hidden in a prototype', () => {
    const input = JSON.parse('{"__proto__":{"Secret":"s3cret","Name":"n"},"ok":1}') as Record<string, unknown>;
    const masked = maskSecrets(input);
    expect(Object.getPrototypeOf(masked)).toBe(Object.prototype);
    expect(JSON.stringify(masked)).toBe(`{"__proto__":{"Secret":"${MASK}","Name":"n"},"ok":1}`);
  });

  it("should mask keys that Go's folding reads as a secret one: the long s and the Kelvin sign", () => {
    expect(maskSecrets({ '\u017Fecret': 'S3CRET-VALUE', '\u212Aey': 'k', 'to\u212Aen': 't', Name: 'n' })).toEqual({
      '\u017Fecret': MASK,
      '\u212Aey': MASK,
      'to\u212Aen': MASK,
      Name: 'n',
    });
  });
});
