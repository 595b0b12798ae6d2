import { ClientBuckets, DomainError } from '@app/common';
import { loadBrokerConfig, serverConfig } from '@app/config';
import type { ExecutionContext } from '@nestjs/common';
import { jest } from '@jest/globals';
import { LoginRateLimitGuard } from './login-rate-limit.guard.js';

function contextFor(ip: string, headers: Record<string, string>): ExecutionContext {
  const res = { setHeader: (name: string, value: string) => (headers[name] = value) };
  return {
    switchToHttp: () => ({ getRequest: () => ({ ip }), getResponse: () => res }),
  } as unknown as ExecutionContext;
}

/** The guard as the broker builds it: from the server config slice of a validated configuration. */
function guardWith(loginPerMinute: number, workers = 1): LoginRateLimitGuard {
  const env = { BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: String(loginPerMinute), BROKER_WORKERS: String(workers) };
  const { config } = loadBrokerConfig({ env, argv: [], cwd: '/nonexistent' });
  return new LoginRateLimitGuard(serverConfig.view(config), new ClientBuckets());
}

describe('LoginRateLimitGuard', () => {
  afterEach(() => jest.useRealTimers());

  it('should let the limit through, then refuse with rate_limited and Retry-After until the minute ends', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const guard = guardWith(3);
    const headers: Record<string, string> = {};
    for (let i = 0; i < 3; i++) expect(guard.canActivate(contextFor('203.0.113.7', headers))).toBe(true);
    jest.setSystemTime(1_000_000 + 20_000);
    let caught: unknown;
    try {
      guard.canActivate(contextFor('203.0.113.7', headers));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DomainError);
    expect((caught as DomainError).code).toBe('rate_limited');
    expect(headers['Retry-After']).toBe('40');
    // Another client is counted on its own.
    expect(guard.canActivate(contextFor('203.0.113.8', {}))).toBe(true);
    jest.setSystemTime(1_000_000 + 60_000);
    expect(guard.canActivate(contextFor('203.0.113.7', {}))).toBe(true);
  });

  it('should enforce its share of the limit in each of BROKER_WORKERS workers', () => {
    const guard = guardWith(6, 2);
    for (let i = 0; i < 3; i++) expect(guard.canActivate(contextFor('203.0.113.10', {}))).toBe(true);
    expect(() => guard.canActivate(contextFor('203.0.113.10', {}))).toThrow(DomainError);
  });

  it('should never refuse when the limit is 0', () => {
    const guard = guardWith(0);
    for (let i = 0; i < 1000; i++) expect(guard.canActivate(contextFor('203.0.113.9', {}))).toBe(true);
  });
});
