import { jest } from '@jest/globals';
import { DomainError } from '@app/common';
import { Logger, NotFoundException, type ArgumentsHost } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import pg from 'pg';
import { QueryFailedError } from 'typeorm';
import { AllExceptionsFilter } from './all-exceptions.filter.js';

const SECRET = 'client-secret-that-must-never-be-logged';

/** The filter as the app gets it: resolved by Nest's injector (it has no dependencies today). */
let filter: AllExceptionsFilter;

beforeAll(async () => {
  const moduleRef = await Test.createTestingModule({ providers: [AllExceptionsFilter] }).compile();
  filter = moduleRef.get(AllExceptionsFilter);
});

/** What the filter answered and everything it logged, for one exception on one path. */
function run(exception: unknown, path = '/api/developers', headers: Record<string, string> = {}) {
  const logged: unknown[] = [];
  const spies = (['error', 'warn', 'log'] as const).map((level) =>
    jest.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => void logged.push(args)),
  );
  const answer: { status?: number; body?: unknown; raw?: string; headers: Record<string, string> } = {
    headers: { ...headers },
  };
  const res = {
    headersSent: false,
    getHeader: (name: string) => answer.headers[name],
    setHeader: (name: string, value: string) => void (answer.headers[name] = value),
    status(code: number) {
      answer.status = code;
      return this;
    },
    json(body: unknown) {
      answer.body = body;
      return this;
    },
    type(value: string) {
      answer.headers['Content-Type'] = value;
      return this;
    },
    send(text: string) {
      answer.raw = text;
      answer.body = JSON.parse(text);
      return this;
    },
  };
  const host = {
    switchToHttp: () => ({ getRequest: () => ({ path, id: 'req-1' }), getResponse: () => res }),
  } as unknown as ArgumentsHost;
  try {
    filter.catch(exception, host);
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  return { ...answer, log: JSON.stringify(logged) };
}

/** A query failure as pg and TypeORM make it: the statement, its parameters, the server's words. */
function queryFailure(code: string) {
  const driverError = Object.assign(new Error(`unsupported Unicode escape sequence near "${SECRET}"`), {
    code,
    severity: 'ERROR',
    detail: `\\u0000 cannot be converted to text. Value: ${SECRET}`,
    where: `JSON data, line 1: {"Secret":"${SECRET}`,
    routine: 'json_lex_string',
    table: 'profiles',
  });
  return new QueryFailedError(
    'INSERT INTO profiles (id, document) VALUES ($1, $2::jsonb)',
    ['p1', JSON.stringify({ Secret: SECRET, DashboardCredential: SECRET })],
    driverError,
  );
}

describe('AllExceptionsFilter', () => {
  it('should never log a failed query, its parameters or the driver detail (only SQLSTATE and names)', () => {
    const { status, body, log } = run(queryFailure('XX000'));
    expect(status).toBe(500);
    expect(JSON.stringify(body)).not.toContain(SECRET);
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain('INSERT INTO');
    expect(log).toContain('XX000');
    expect(log).toContain('QueryFailedError');
  });

  it('should answer a value Postgres refuses (SQLSTATE class 22) with 400, in the TIB envelope on /api/profiles', () => {
    const { status, body, log } = run(queryFailure('22P05'), '/api/profiles/p1');
    expect(status).toBe(400);
    expect(body).toEqual({ Status: 'error', Error: 'A value in the request cannot be stored' });
    expect(log).not.toContain(SECRET);
    expect(log).toContain('22P05');
  });

  it("should answer an unknown provider name on a login route as TIB does: 400, goth's text, Go's JSON bytes", () => {
    const name = 'a<b>&\u2028c';
    const { status, raw, headers } = run(
      new DomainError('provider_not_found', `no provider for ${name} exists`),
      '/auth/p1/whatever',
    );
    expect(status).toBe(400);
    expect(headers['Content-Type']).toBe('application/json');
    // What Go's json.Marshal writes for APIErrorMessage{"error", msg} (tyk-identity-broker error/error.go).
    expect(raw).toBe('{"Status":"error","Error":"no provider for a\\u003cb\\u003e\\u0026\\u2028c exists"}');
  });

  it("should answer 400 for a class-22 pg DatabaseError that no QueryFailedError wraps (the export's COPY)", () => {
    // What pg throws for `COPY (… WHERE occurred_at >= E'0000-01-01…'::timestamptz) TO STDOUT`.
    const copyFailure = Object.assign(
      new pg.DatabaseError(`date/time field value out of range: "0000-01-01T00:00:00.000Z ${SECRET}"`, 90, 'error'),
      { code: '22008', severity: 'ERROR', routine: 'DateTimeParseError' },
    );
    const { status, body, log } = run(copyFailure, '/api/audit/export');
    expect(status).toBe(400);
    expect(body).toEqual({
      error: { code: 'bad_request', message: 'A value in the request cannot be stored', requestId: 'req-1' },
    });
    expect(log).not.toContain(SECRET);
    expect(log).toContain('22008');
    // Another SQLSTATE class from the same place stays a 500.
    expect(run(Object.assign(new pg.DatabaseError('x', 1, 'error'), { code: '42601' })).status).toBe(500);
  });

  it('should keep a domain error as it is', () => {
    const { status, body } = run(new DomainError('validation_failed', 'q: must not be empty', { parameter: 'q' }));
    expect(status).toBe(400);
    expect(body).toEqual({
      error: {
        code: 'validation_failed',
        message: 'q: must not be empty',
        requestId: 'req-1',
        details: { parameter: 'q' },
      },
    });
  });

  it('should answer a 5xx domain error with the sentence for its code and put its message in the log only', () => {
    const detail = 'dashboard is unreachable (ECONNREFUSED) for POST /api/sso; TYK_PORTAL_ADMIN_TOKEN is not set';
    const { status, body, log } = run(new DomainError('portal_unreachable', detail));
    expect(status).toBe(502);
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|\/api\/sso|TYK_/);
    expect(body).toEqual({
      error: {
        code: 'portal_unreachable',
        message:
          'The developer portal could not complete the sign-in. Try again shortly or contact the portal administrators.',
        requestId: 'req-1',
      },
    });
    expect(log).toContain('(ECONNREFUSED) for POST /api/sso');
    expect(log).toContain('req-1');
  });

  it('should answer an unknown error with a generic 500 and keep its message out of the body', () => {
    const { status, body, log } = run(new TypeError(`cannot read ${SECRET}`));
    expect(status).toBe(500);
    expect(JSON.stringify(body)).not.toContain(SECRET);
    expect((body as { error: { code: string } }).error.code).toBe('unavailable');
    expect(log).toContain('TypeError');
  });

  it("should keep a Nest HttpException's status", () => {
    const { status } = run(new NotFoundException());
    expect(status).toBe(404);
  });

  it('should add Retry-After to a 429 that has none, and keep one already set', () => {
    expect(run(new DomainError('rate_limited', 'slow down')).headers['Retry-After']).toBe('60');
    expect(run(new DomainError('rate_limited', 'slow down'), '/x', { 'Retry-After': '7' }).headers['Retry-After']).toBe(
      '7',
    );
  });
});
