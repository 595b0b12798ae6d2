import { getCaseInsensitive, getPathCaseInsensitive, goFoldName } from './go-json.js';

describe('getPathCaseInsensitive', () => {
  it('should follow a path with Go key matching, preferring exact keys', () => {
    const conf = { tykapisettings: { DashboardConfig: { endpoint: 'lower', Endpoint: 'exact' } } };
    expect(getPathCaseInsensitive(conf, 'TykAPISettings', 'DashboardConfig', 'Endpoint')).toBe('exact');
    expect(getPathCaseInsensitive(conf, 'TYKAPISETTINGS', 'dashboardconfig')).toEqual(
      conf.tykapisettings.DashboardConfig,
    );
  });

  it('should merge two spellings of an object and let null or a non-object change nothing, as Go decodes structs', () => {
    const conf = { A: { B: 1, C: 2 }, a: { c: 3 }, '\u212a': 'x', k: { v: 1 }, K: null };
    expect(getPathCaseInsensitive(conf, 'A', 'B')).toBe(1);
    expect(getPathCaseInsensitive(conf, 'A', 'C')).toBe(3);
    expect(getPathCaseInsensitive(conf, 'K', 'V')).toBe(1);
    expect(getPathCaseInsensitive({ x: 1, X: null }, 'x')).toBe(1);
  });

  it('should answer undefined when a step is missing or not an object', () => {
    expect(getPathCaseInsensitive({ a: [1] }, 'a', 'b')).toBeUndefined();
    expect(getPathCaseInsensitive({ a: null }, 'a', 'b')).toBeUndefined();
    expect(getPathCaseInsensitive({}, 'missing')).toBeUndefined();
  });
});

describe("goFoldName and getCaseInsensitive: Go's encoding/json folding", () => {
  it('should fold ASCII letters, the Kelvin sign and the long s into ASCII, and other runes only within their orbit', () => {
    expect(goFoldName('callbackBaseURL')).toBe('CALLBACKBASEURL');
    expect(goFoldName('\u212aey')).toBe('KEY');
    expect(goFoldName('ba\u017fe')).toBe('BASE');
    // JavaScript upper-cases ı to I and lower-cases İ to i + U+0307; Go folds neither into ASCII.
    expect(goFoldName('\u0131d')).toBe('\u0131D');
    expect(goFoldName('\u0130D')).toBe('\u0130D');
    expect(goFoldName('stra\u00dfe')).toBe('STRA\u00dfE');
    // é and É share an orbit (go-fold.spec.ts checks every orbit against Go).
    expect(goFoldName('caf\u00e9')).toBe(goFoldName('CAF\u00c9'));
  });

  it('should let the last matching key in the document win, as Go decodes each key into the field in turn', () => {
    expect(getCaseInsensitive({ Name: 'exact', name: 'last' }, 'Name')).toBe('last');
    expect(getCaseInsensitive({ name: 'first', Name: 'exact' }, 'Name')).toBe('exact');
    expect(getCaseInsensitive({ Key: 'kelvin' }, 'Key')).toBe('kelvin');
    expect(getCaseInsensitive({ Baſe: 'long s' }, 'Base')).toBe('long s');
    expect(getCaseInsensitive({ ıD: 'dotless' }, 'ID')).toBeUndefined();
    expect(getCaseInsensitive({ 'K\u0065y': 1, KEYS: 2 }, 'key')).toBe(1);
  });
});
