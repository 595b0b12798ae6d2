import { jest } from '@jest/globals';
import type { AuditService } from '@app/audit';
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
  );
  return { guard, audit };
}

function contextFor(authorization: string, headers: Record<string, string> = {}): ExecutionContext {
  const req = {
    ip: '203.0.113.5',
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
});
