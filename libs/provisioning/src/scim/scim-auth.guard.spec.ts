import { jest } from '@jest/globals';
import type { AuditService } from '@app/audit';
import { ClientBuckets } from '@app/common';
import { adminConfig, loadBrokerConfig, provisioningConfig } from '@app/config';
import type { ExecutionContext } from '@nestjs/common';
import { ScimAuthGuard } from './scim-auth.guard.js';
import { ScimError } from './scim-error.js';

const TOKEN = 'x'.repeat(40);

/** The guard as the broker builds it: from the slices of one validated configuration. */
function guardWith(env: Record<string, string>) {
  const { config } = loadBrokerConfig({
    env: { BROKER_SCIM_TOKENS: `hr:${TOKEN}`, ...env },
    argv: [],
    cwd: '/nonexistent',
  });
  const audit = { record: jest.fn((_event: unknown) => Promise.resolve()) };
  const guard = new ScimAuthGuard(
    provisioningConfig.view(config),
    adminConfig.view(config),
    audit as unknown as AuditService,
    new ClientBuckets(),
  );
  return { guard, audit };
}

function contextFor(authorization: string, headers: Record<string, string> = {}, ip = '203.0.113.5'): ExecutionContext {
  const req = {
    ip,
    headers: {},
    method: 'GET',
    path: '/scim/v2/Users',
    get: (name: string) => (name.toLowerCase() === 'authorization' ? authorization : undefined),
    res: { setHeader: (name: string, value: string) => (headers[name] = value) },
  };
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

async function statusOf(promise: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (e) {
    if (e instanceof ScimError) return e.status;
    throw e;
  }
}

describe('ScimAuthGuard', () => {
  it('should accept a configured token and refuse a wrong one with 401', async () => {
    const { guard, audit } = guardWith({});
    expect(await statusOf(guard.canActivate(contextFor(`Bearer ${TOKEN}`)))).toBe('ok');
    expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(401);
    expect(audit.record).toHaveBeenCalledTimes(1);
  });

  it("should enforce each BROKER_WORKERS worker's share of the failure limit, not the whole limit per worker", async () => {
    const { guard } = guardWith({ BROKER_WORKERS: '2', BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '4' });
    for (let i = 0; i < 2; i++) expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(401);
    const headers: Record<string, string> = {};
    expect(await statusOf(guard.canActivate(contextFor('Bearer wrong', headers)))).toBe(429);
    expect(headers['Retry-After']).toMatch(/^\d+$/);
  });

  it('should let every failure through to 401 when the limit is 0', async () => {
    const { guard } = guardWith({ BROKER_WORKERS: '4', BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '0' });
    for (let i = 0; i < 50; i++) expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(401);
  });

  it('should never refuse a valid token, even while its client is throttled for bad ones', async () => {
    const { guard } = guardWith({ BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '3' });
    for (let i = 0; i < 3; i++) expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(401);
    expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(429);
    // The IdP behind the same address (its egress NAT, or a proxy not in BROKER_TRUSTED_PROXIES).
    expect(await statusOf(guard.canActivate(contextFor(`Bearer ${TOKEN}`)))).toBe('ok');
    expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(429);
  });

  it('should count an IPv6 client by its /64, so picking new addresses does not escape the limit', async () => {
    const { guard } = guardWith({ BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '3' });
    const statuses = [];
    for (let i = 1; i <= 5; i++) {
      statuses.push(
        await statusOf(guard.canActivate(contextFor('Bearer wrong', {}, `2001:db8:1:2::${i.toString(16)}`))),
      );
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    expect(await statusOf(guard.canActivate(contextFor('Bearer wrong', {}, '2001:db8:1:3::1')))).toBe(401);
  });

  it('should keep a throttled client throttled when many other clients fail (no reset of every count)', async () => {
    const { guard } = guardWith({ BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '2' });
    for (let i = 0; i < 2; i++) await statusOf(guard.canActivate(contextFor('Bearer wrong')));
    for (let i = 0; i < 10_001; i++) {
      await statusOf(
        guard.canActivate(contextFor('Bearer wrong', {}, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)),
      );
    }
    expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(429);
  });

  it('should audit at most one failure per client per 10 s, saying how many it stands for', async () => {
    const { guard, audit } = guardWith({ BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '0' });
    const now = jest.spyOn(Date, 'now').mockReturnValue(1_000_000);
    try {
      for (let i = 1; i <= 20; i++) {
        await statusOf(guard.canActivate(contextFor('Bearer wrong', {}, `2001:db8:1:2::${i.toString(16)}`)));
      }
      expect(audit.record).toHaveBeenCalledTimes(1);
      now.mockReturnValue(1_010_000);
      await statusOf(guard.canActivate(contextFor('Bearer wrong')));
      await statusOf(guard.canActivate(contextFor('Bearer wrong', {}, '2001:db8:1:2::99')));
      expect(audit.record).toHaveBeenCalledTimes(3);
      expect(audit.record.mock.calls[2][0]).toMatchObject({
        type: 'admin.auth_failed',
        ip: '2001:db8:1:2::99',
        details: { api: 'scim', suppressedSinceLast: 19 },
      });
    } finally {
      now.mockRestore();
    }
  });

  it('should still refuse with 401, not fail, when the audit log cannot be written', async () => {
    const { guard, audit } = guardWith({});
    audit.record.mockRejectedValueOnce(new Error('database down'));
    expect(await statusOf(guard.canActivate(contextFor('Bearer wrong')))).toBe(401);
    expect(audit.record).toHaveBeenCalledTimes(1);
  });
});
