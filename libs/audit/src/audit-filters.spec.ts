import { DomainError } from '@app/common';
import { auditWhere, expandTypes, parseAuditFilters, parseIsoTime, type AuditQueryInput } from './audit-filters.js';
import { CursorCodec, nextPageLink } from './cursor.js';

const codec = new CursorCodec(Buffer.alloc(32, 7));

function failure(input: AuditQueryInput): DomainError {
  try {
    parseAuditFilters(input, { cursors: codec });
  } catch (e) {
    return e as DomainError;
  }
  throw new Error('expected a validation error');
}

describe('parseAuditFilters', () => {
  it('should apply the defaults (newest first, 100 per page)', () => {
    const f = parseAuditFilters({});
    expect(f.order).toBe('desc');
    expect(f.limit).toBe(100);
    expect(f.types).toBeNull();
    expect(f.afterId).toBeNull();
  });

  it('should expand a prefix such as login.* to the known types under it', () => {
    expect(expandTypes(['login.*'])).toEqual(['login.failed', 'login.succeeded']);
    expect(expandTypes(['developer.*', 'logout'])).toEqual([
      'developer.blocked',
      'developer.deactivated_inactive',
      'developer.erased',
      'developer.unblocked',
      'logout',
    ]);
  });

  it.each<[AuditQueryInput, string]>([
    [{ type: 'login.nope' }, 'type'],
    [{ type: 'nothing.*' }, 'type'],
    [{ type: ['login.*', ''] }, 'type'],
    [{ outcome: 'maybe' }, 'outcome'],
    [{ developer: 'not-a-uuid' }, 'developer'],
    [{ ip: '300.1.1.1' }, 'ip'],
    [{ ip: '10.0.0.0/33' }, 'ip'],
    [{ ip: 'fe80::1%eth0' }, 'ip'],
    [{ ip: 'fe80::1%1/64' }, 'ip'],
    [{ since: '0000-01-01' }, 'since'],
    [{ until: '0001-01-01T00:30:00+01:00' }, 'until'],
    [{ until: '9999-12-31T23:00:00-05:00' }, 'until'],
    [{ since: new Date(Date.UTC(-5, 0, 1)) }, 'since'],
    [{ since: 'yesterday' }, 'since'],
    [{ since: '2025-01-31T12:00:00' }, 'since'],
    [{ until: '2025-02-30' }, 'until'],
    [{ since: '2025-02-01T00:00:00Z', until: '2025-01-01T00:00:00Z' }, 'until'],
    [{ q: '   ' }, 'q'],
    [{ q: 'a b c d e f g h i' }, 'q'],
    [{ q: 'nul\0byte' }, 'q'],
    [{ profile: 'p\0' }, 'profile'],
    [{ q: 'lone \ud800 surrogate' }, 'q'],
    [{ organization: 'org\udc00' }, 'organization'],
    [{ email: 'a\ud83d@x.example' }, 'email'],
    [{ order: 'sideways' }, 'order'],
    [{ limit: '0' }, 'limit'],
    [{ limit: '1001' }, 'limit'],
    [{ limit: '10abc' }, 'limit'],
    [{ email: 'x'.repeat(321) }, 'email'],
  ])('should refuse %j with validation_failed naming %s', (input, parameter) => {
    const e = failure(input);
    expect(e).toBeInstanceOf(DomainError);
    expect(e.code).toBe('validation_failed');
    expect(e.message.startsWith(`${parameter}:`)).toBe(true);
    expect(e.details).toEqual({ parameter });
  });

  it('should accept dates, UTC times and offsets', () => {
    expect(parseIsoTime('since', '2025-01-31')?.toISOString()).toBe('2025-01-31T00:00:00.000Z');
    expect(parseIsoTime('since', '2025-01-31T23:30:00-05:00')?.toISOString()).toBe('2025-02-01T04:30:00.000Z');
    expect(parseIsoTime('since', '2025-01-31T12:00:00.5Z')?.toISOString()).toBe('2025-01-31T12:00:00.500Z');
    expect(parseIsoTime('since', '0001-01-01')?.toISOString()).toBe('0001-01-01T00:00:00.000Z');
    expect(parseIsoTime('until', '9999-12-31T23:59:59Z')?.toISOString()).toBe('9999-12-31T23:59:59.000Z');
  });

  it('should accept a cursor made for the same filters and refuse it with other filters', () => {
    const first = parseAuditFilters({ type: 'login.*', outcome: 'failure' });
    const cursor = codec.encode({ id: '1234' }, first.fingerprint);
    const cursors = codec;
    expect(parseAuditFilters({ type: ['login.*'], outcome: 'failure', cursor }, { cursors }).afterId).toBe('1234');
    // The same filters spelled differently (exact types instead of the prefix) are the same query.
    expect(
      parseAuditFilters({ type: ['login.succeeded', 'login.failed'], outcome: 'failure', cursor }, { cursors }).afterId,
    ).toBe('1234');
    const e = failure({ type: 'login.*', outcome: 'success', cursor });
    expect(e.code).toBe('cursor_invalid');
    expect(e.message).toMatch(/^cursor: .*other filters/);
    expect(failure({ type: 'login.*', outcome: 'failure', order: 'asc', cursor }).message).toMatch(/^cursor:/);
  });
});

describe('auditWhere', () => {
  it('should bind every value as a parameter', () => {
    const params: unknown[] = [];
    const where = auditWhere(parseAuditFilters({ q: "50%_off o'brien", email: 'A@B.example' }), params);
    expect(where.join(' ')).not.toContain("o'brien");
    expect(params).toEqual(['A@B.example', '%50\\%\\_off%', "%o'brien%"]);
  });
});

describe('cursors and links', () => {
  const fingerprint = parseAuditFilters({}).fingerprint;
  /** A cursor as a client could make one by hand: the payload, with or without a made-up MAC. */
  const handMade = (position: Record<string, string>, mac = '') =>
    Buffer.from(JSON.stringify({ v: 1, p: position, f: fingerprint })).toString('base64url') + mac;

  it('should refuse a cursor whose position is missing', () => {
    const c = codec.encode({ other: '1' }, 'f');
    expect(() => codec.decode(c, 'f', ['id'])).toThrow(/cursor: not a cursor/);
  });

  it.each([
    ['garbage!'],
    [handMade({ id: '99999999999999999999' })],
    [handMade({ id: '1' })],
    [handMade({ id: '1' }, '.AAAAAAAAAAAAAAAAAAAAAA')],
    [new CursorCodec(Buffer.alloc(32, 8)).encode({ id: '1' }, fingerprint)],
    [
      `${codec.encode({ id: '1' }, fingerprint).split('.')[0]}x.${codec.encode({ id: '1' }, fingerprint).split('.')[1]}`,
    ],
  ])('should refuse %s with cursor_invalid: hand-made, forged or under another key', (cursor) => {
    const e = failure({ cursor });
    expect(e).toBeInstanceOf(DomainError);
    expect(e.code).toBe('cursor_invalid');
    expect(e.details).toEqual({ parameter: 'cursor' });
  });

  it('should refuse even a signed position outside bigint, never handing it to SQL', () => {
    const e = failure({ cursor: codec.encode({ id: '9223372036854775808' }, fingerprint) });
    expect(e.code).toBe('cursor_invalid');
    expect(
      parseAuditFilters({ cursor: codec.encode({ id: '9223372036854775807' }, fingerprint) }, { cursors: codec })
        .afterId,
    ).toBe('9223372036854775807');
  });

  it('should build the next link from the public URL, keeping repeated parameters', () => {
    expect(
      nextPageLink('/api/audit/events?type=login.failed&type=logout&cursor=old', 'https://sso.example/base/', 'NEW'),
    ).toBe('<https://sso.example/base/api/audit/events?type=login.failed&type=logout&cursor=NEW>; rel="next"');
  });
});
