import { getPathCaseInsensitive } from './go-json.js';

describe('getPathCaseInsensitive', () => {
  it('should follow a path with Go key matching, preferring exact keys', () => {
    const conf = { tykapisettings: { DashboardConfig: { endpoint: 'lower', Endpoint: 'exact' } } };
    expect(getPathCaseInsensitive(conf, 'TykAPISettings', 'DashboardConfig', 'Endpoint')).toBe('exact');
    expect(getPathCaseInsensitive(conf, 'TYKAPISETTINGS', 'dashboardconfig')).toEqual(
      conf.tykapisettings.DashboardConfig,
    );
  });

  it('should answer undefined when a step is missing or not an object', () => {
    expect(getPathCaseInsensitive({ a: [1] }, 'a', 'b')).toBeUndefined();
    expect(getPathCaseInsensitive({ a: null }, 'a', 'b')).toBeUndefined();
    expect(getPathCaseInsensitive({}, 'missing')).toBeUndefined();
  });
});
