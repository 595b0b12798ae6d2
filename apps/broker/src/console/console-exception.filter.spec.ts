import { jest } from '@jest/globals';
import { DomainError } from '@app/common';
import { Logger, type ArgumentsHost } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { ConsoleExceptionFilter } from './console.guard.js';

const EMAIL = 'searched.person@example.com';
const VERIFIER = 'pkce-verifier-that-must-never-be-logged';

/** What the console's filter answered and everything it logged, for one exception. */
function run(exception: unknown) {
  const logged: unknown[] = [];
  const spies = (['error', 'warn', 'log'] as const).map((level) =>
    jest.spyOn(Logger.prototype, level).mockImplementation((...args: unknown[]) => void logged.push(args)),
  );
  const answer: { status?: number; body?: string; headers: Record<string, string> } = { headers: {} };
  const res = {
    setHeader: (name: string, value: string) => void (answer.headers[name] = value),
    status(code: number) {
      answer.status = code;
      return this;
    },
    type() {
      return this;
    },
    send(body: string) {
      answer.body = body;
      return this;
    },
  };
  const host = {
    switchToHttp: () => ({ getRequest: () => ({ originalUrl: '/console/events' }), getResponse: () => res }),
  } as unknown as ArgumentsHost;
  try {
    new ConsoleExceptionFilter().catch(exception, host);
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  return { ...answer, log: JSON.stringify(logged) };
}

/** A failed query as TypeORM wraps it: the statement and its parameters travel with the error. */
function queryFailure(driverError: Error & { code?: string }) {
  return new QueryFailedError(
    'INSERT INTO console_sessions (id, state, verifier, return_to) VALUES ($1, $2, $3, $4)',
    ['s1', 'state-1', VERIFIER, `/console/events?email=${EMAIL}`],
    driverError,
  );
}

describe('ConsoleExceptionFilter', () => {
  it('should log a failed query by its names and SQLSTATE only, never its SQL or parameters', () => {
    const { status, body, log } = run(queryFailure(Object.assign(new Error('internal'), { code: 'XX000' })));
    expect(status).toBe(500);
    expect(log).toContain('XX000');
    expect(log).not.toContain(VERIFIER);
    expect(log).not.toContain(EMAIL);
    expect(log).not.toContain('INSERT INTO');
    expect(body).not.toContain(VERIFIER);
  });

  it.each([
    [
      'down (57P01)',
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    ],
    ['too slow (query timeout)', new Error('Query read timeout')],
  ])('should answer 503 with a page saying to try again when the database is %s, and log no parameters', (_, cause) => {
    const { status, body, log } = run(queryFailure(cause));
    expect(status).toBe(503);
    expect(body).toContain('The database is unavailable; try again shortly.');
    expect(log).not.toContain(VERIFIER);
    expect(log).not.toContain(EMAIL);
  });

  it('should show a 5xx domain error by its public sentence, not its internal message', () => {
    const { status, body, log } = run(
      new DomainError('portal_unreachable', 'ECONNREFUSED for GET http://portal.internal:3001/portal-api/users'),
    );
    expect(status).toBeGreaterThanOrEqual(500);
    expect(body).not.toContain('portal.internal');
    expect(log).toContain('portal_unreachable');
  });

  it("should show a client's domain error by its own message", () => {
    const { status, body } = run(new DomainError('validation_failed', 'since must be an RFC 3339 time'));
    expect(status).toBe(400);
    expect(body).toContain('since must be an RFC 3339 time');
  });
});
