import { jest } from '@jest/globals';
import { AuditService } from '@app/audit';
import { DomainError } from '@app/common';
import type { StoredProfile } from '@app/profiles';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BrokerMetrics } from '../metrics/broker-metrics.service.js';
import { LoginFailedException, LoginFailures } from './login-failures.service.js';
import { LoginSettings } from './login-settings.service.js';

const stored = { version: 1, profile: { ID: 'p1' } } as unknown as StoredProfile;
const ctx = { ip: '10.0.0.1', userAgent: 'jest', requestId: 'req-42' };

async function setUp(failureRedirect: string) {
  const audit = { record: jest.fn((_event: unknown) => Promise.resolve()) };
  const metrics = { loginStep: jest.fn((..._args: unknown[]) => undefined) };
  const moduleRef = await Test.createTestingModule({
    providers: [
      LoginFailures,
      { provide: LoginSettings, useValue: { failureRedirect: () => failureRedirect } },
      { provide: AuditService, useValue: audit },
      { provide: BrokerMetrics, useValue: metrics },
    ],
  }).compile();
  moduleRef.useLogger(false);
  return { failures: moduleRef.get(LoginFailures), audit, metrics };
}

function failure(error: unknown, known = {}) {
  return new LoginFailedException(
    { step: 'callback', stored, provider: 'x'.repeat(500), started: process.hrtime.bigint() },
    error,
    known,
  );
}

describe('LoginFailures (mocked ports)', () => {
  beforeEach(() => {
    for (const level of ['log', 'warn', 'error'] as const) {
      jest.spyOn(Logger.prototype, level).mockImplementation(() => undefined);
    }
  });
  afterEach(() => jest.restoreAllMocks());

  it('should audit login.failed with the code and redirect to FailureRedirect?error=<code>', async () => {
    const { failures, audit, metrics } = await setUp('https://portal.example/failed?x=1#top');
    const outcome = await failures.render(
      failure(new DomainError('state_invalid', 'gone'), { developerId: 'd1' }),
      ctx,
    );
    expect(outcome).toEqual({
      kind: 'redirect',
      status: 302,
      location: 'https://portal.example/failed?x=1&error=state_invalid#top',
    });
    const event = audit.record.mock.calls[0][0] as Record<string, unknown>;
    expect(event).toMatchObject({
      type: 'login.failed',
      reason: 'state_invalid',
      actor: 'developer:d1',
      profileId: 'p1',
      ip: '10.0.0.1',
      requestId: 'req-42',
    });
    expect((event.details as { provider: string }).provider.length).toBeLessThanOrEqual(128);
    expect(metrics.loginStep).toHaveBeenCalledWith('callback', 'failure', 'state_invalid', expect.any(BigInt));
  });

  it('should answer the error page with the code, its status and the request id without FailureRedirect', async () => {
    const { failures } = await setUp('');
    const outcome = await failures.render(failure(new DomainError('access_denied', 'secret detail')), ctx);
    expect(outcome.kind).toBe('page');
    const page = outcome as { status: number; html: string };
    expect(page.status).toBeGreaterThanOrEqual(400);
    expect(page.status).toBeLessThan(500);
    expect(page.html).toContain('access_denied');
    expect(page.html).toContain('req-42');
    expect(page.html).not.toContain('secret detail');
  });

  it('should answer unavailable for an unexpected error and still answer when the audit write fails', async () => {
    const { failures, audit } = await setUp('https://portal.example/failed');
    audit.record.mockRejectedValueOnce(new Error('database down'));
    const outcome = await failures.render(failure(new TypeError('bug')), ctx);
    expect(outcome).toEqual({
      kind: 'redirect',
      status: 302,
      location: 'https://portal.example/failed?error=unavailable',
    });
  });

  it("should answer a login failed by the profile's own configuration as a server-side problem, logged as an error", async () => {
    const error = jest.spyOn(Logger.prototype, 'error');
    const { failures, audit } = await setUp('');
    const raised = new DomainError('profile_invalid', 'IdentityHandlerConfig.DashboardCredential is empty', {
      field: 'IdentityHandlerConfig.DashboardCredential',
    });
    const outcome = (await failures.render(failure(raised), ctx)) as { kind: string; status: number; html: string };
    expect(outcome.kind).toBe('page');
    expect(outcome.status).toBe(503);
    expect(outcome.html).toContain('profile_misconfigured');
    expect(outcome.html).not.toContain('profile_invalid');
    expect(outcome.html).not.toContain('DashboardCredential');
    expect(audit.record.mock.calls[0][0]).toMatchObject({ reason: 'profile_misconfigured' });
    expect(error).toHaveBeenCalledWith(
      expect.objectContaining({
        code: 'profile_misconfigured',
        detail: expect.stringContaining('DashboardCredential'),
      }),
      expect.any(String),
    );
    const redirected = await (await setUp('https://portal.example/failed')).failures.render(failure(raised), ctx);
    expect(redirected).toMatchObject({ location: 'https://portal.example/failed?error=profile_misconfigured' });
  });

  it.each(['/login?failed=1', 'javascript:alert(1)//', 'mailto:x@example.com', 'not a url'])(
    'should answer the error page, never throw or redirect, when FailureRedirect is %j',
    async (failureRedirect) => {
      const { failures } = await setUp(failureRedirect);
      const outcome = await failures.render(
        failure(new DomainError('provider_not_supported', 'Profile ldap1 uses ADProvider')),
        ctx,
      );
      expect(outcome.kind).toBe('page');
      const page = outcome as { status: number; html: string };
      expect(page.status).toBe(501);
      expect(page.html).toContain('provider_not_supported');
      expect(page.html).not.toContain(failureRedirect);
    },
  );
});
