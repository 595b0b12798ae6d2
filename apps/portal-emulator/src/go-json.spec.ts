import { readFileSync } from 'node:fs';
import { decodeGo, type GoField } from './go-json.js';

/** Go's SimpleFold orbits (test/fixtures/go-fold: generated with Go, see gen.go there). */
const { orbits, go } = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/go-fold/go-fold.json', import.meta.url), 'utf8'),
) as { orbits: number[][]; go: string };

describe(`decodeGo key matching against Go's folding (${go})`, () => {
  it('should match a one-letter field from exactly the runes Go folds to that letter, over every code point', () => {
    // Every field name of the emulator's schemas is ASCII; so is each field here.
    const schema: Record<string, GoField> = {};
    for (let c = 0x41; c <= 0x5a; c++) schema[String.fromCharCode(c)] = 'any';
    const want = new Map<number, string>();
    for (const orbit of orbits) {
      const ascii = orbit.find((cp) => cp >= 0x41 && cp <= 0x5a);
      if (ascii !== undefined) for (const cp of orbit) want.set(cp, String.fromCharCode(ascii));
    }
    expect(want.get(0x212a)).toBe('K');
    expect(want.get(0x17f)).toBe('S');
    const wrong: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const got = Object.keys(decodeGo({ [String.fromCodePoint(cp)]: 1 }, schema));
      const expected = want.has(cp) ? [want.get(cp)] : [];
      if (got.length !== expected.length || got[0] !== expected[0]) wrong.push(cp.toString(16));
    }
    expect(wrong).toEqual([]);
  });

  it('should let the last spelling win and a null change nothing', () => {
    const schema = { sso_key: 'string', keys: 'object' } as const;
    expect(decodeGo({ 'sso_\u212aey': 'a', SSO_KEY: 'b' }, schema)).toEqual({ sso_key: 'b' });
    expect(decodeGo({ SSO_KEY: 'b', 'sso_\u212aey': null }, schema)).toEqual({ sso_key: 'b' });
    expect(decodeGo({ '\u212aey\u017f': {} }, schema)).toEqual({ keys: {} });
  });
});
