import fc from 'fast-check';
import { insertParams, scrubEmailText } from './audit-record.js';

/** The scrubber's former regular expression: the meaning the linear scrubber keeps. */
const OLD_EMAIL = /[^\s@"'<>()[\],;:]+@[^\s@"'<>()[\],;:]+\.[A-Za-z]{2,}/g;

const base = { type: 'login.failed', outcome: 'failure' } as const;
const REASON = 2;
const TARGET = 4;
const ORGANISATION = 7;
const DETAILS = 11;

describe('audit record text', () => {
  it('should mask emails exactly where the former regular expression did', () => {
    const piece = fc.oneof(
      fc.constantFrom('@', '.', 'a', 'Z', 'com', '.io', ' ', '"', ';', '1', 'x@y.zz', 'é', '\t', '@@', '.c'),
      fc.string({ maxLength: 4 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
        const text = parts.join('');
        expect(scrubEmailText(text)).toBe(text.replace(OLD_EMAIL, '[email]'));
      }),
      { seed: 13, numRuns: 5000 },
    );
    expect(scrubEmailText('to alice@acme.example, bob@x.io; not@me')).toBe('to [email], [email]; not@me');
    expect(scrubEmailText('a@b.com1x a@b@c.com')).toBe('[email]1x a@[email]');
  });

  it('should make NUL and unpaired surrogates Postgres-safe in every text column and in details', () => {
    const params = insertParams({
      ...base,
      reason: 'r\u0000',
      target: 't\ud800',
      organisationId: 'org\udc00x',
      details: { ['k\u0000']: ['v\ud800', { deep: 'a\u0000b' }] },
    });
    expect(params[REASON]).toBe('r\ufffd');
    expect(params[TARGET]).toBe('t\ufffd');
    expect(params[ORGANISATION]).toBe('org\ufffdx');
    const details = params[DETAILS] as string;
    expect(details).not.toMatch(/\\u0000|\\ud[89a-f]/i);
    expect(JSON.parse(details)).toEqual({ 'k\ufffd': ['v\ufffd', { deep: 'a\ufffdb' }] });
  });

  it('should clip before scrubbing, never inside a surrogate pair', () => {
    const huge = `${'😀'.repeat(200)}${'a'.repeat(200_000)}@example.com`;
    const params = insertParams({ ...base, reason: huge, target: huge, details: { value: huge } });
    expect(params[REASON]).toBe('😀'.repeat(100));
    expect((params[TARGET] as string).length).toBe(300);
    expect(params[TARGET]).toBe('😀'.repeat(150));
    const odd = insertParams({ ...base, reason: `x${'😀'.repeat(150)}` })[REASON] as string;
    expect(odd).toBe(`x${'😀'.repeat(99)}`);
    const value = (JSON.parse(params[DETAILS] as string) as { value: string }).value;
    expect(value.length).toBeLessThanOrEqual(2048);
    expect(value).not.toContain('@');
  });
});
