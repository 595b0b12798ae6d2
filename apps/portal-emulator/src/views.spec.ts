import fc from 'fast-check';
import { paginate, portalDate } from './views.js';

describe('portalDate', () => {
  it('should format like toISOString cut to minutes, for any date', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }), (d) => {
        expect(portalDate(d)).toBe(d.toISOString().slice(0, 16).replace('T', ' '));
      }),
      { numRuns: 2000 },
    );
    expect(portalDate(new Date('2026-03-04T05:06:59.999Z'))).toBe('2026-03-04 05:06');
    expect(portalDate(new Date('0999-12-31T23:59:00Z'))).toBe('0999-12-31 23:59');
    expect(() => portalDate(new Date(NaN))).toThrow(RangeError);
  });
});

describe('paginate', () => {
  it('should slice any iterable like the array it replaces, by page, per_page and limit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { maxLength: 60 }),
        fc.record({
          page: fc.option(fc.oneof(fc.nat(5).map(String), fc.constant('x')), { nil: undefined }),
          per_page: fc.option(fc.nat(25).map(String), { nil: undefined }),
          limit: fc.option(fc.nat(30).map(String), { nil: undefined }),
        }),
        (items, query) => {
          const positive = (v?: string) =>
            v !== undefined && /^\d+$/.test(v) && Number(v) >= 1 ? Number(v) : undefined;
          const perPage = positive(query.per_page) ?? 20;
          const start = ((positive(query.page) ?? 1) - 1) * perPage;
          const expected = items.slice(start, start + (positive(query.limit) ?? perPage));
          expect(paginate(new Set(items.map((v, i) => [i, v])).values(), query).map(([, v]) => v)).toEqual(expected);
        },
      ),
    );
  });
});
