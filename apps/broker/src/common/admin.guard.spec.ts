import { jest } from '@jest/globals';
import { AuditService } from '@app/audit';
import { AdminTokenVerifier } from '@app/cloudentity';
import { AdminRoles, ClientBuckets, DomainError } from '@app/common';
import { adminConfig } from '@app/config';
import { Logger, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { AdminGuard } from './admin.guard.js';

const SECRET = 'a-tib-secret-of-some-length';

class Routes {
  @AdminRoles('admin')
  adminOnly(): void {}

  @AdminRoles('admin', 'auditor')
  readable(): void {}

  open(): void {}
}

interface FakeRequest {
  ip: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  get(name: string): string | undefined;
  user?: unknown;
  res: { setHeader: jest.Mock<(name: string, value: string) => void> };
}

function request(authorization?: string, ip = '192.0.2.1'): FakeRequest {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  return {
    ip,
    method: 'GET',
    path: '/api/profiles',
    headers,
    get: (name) => headers[name.toLowerCase()],
    res: { setHeader: jest.fn((_name: string, _value: string) => undefined) },
  };
}

function contextFor(handler: keyof Routes, req: FakeRequest): ExecutionContext {
  return {
    getHandler: () => Routes.prototype[handler],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
}

async function setUp(config: { secret?: string; issuer?: string; failuresPerMinute?: number } = {}) {
  const audit = { record: jest.fn((_event: unknown) => Promise.resolve()) };
  const tokens = {
    verify: jest.fn((_token: string): Promise<unknown> => Promise.resolve({ subject: 'alice', roles: ['auditor'] })),
  };
  const moduleRef = await Test.createTestingModule({
    providers: [
      AdminGuard,
      Reflector,
      ClientBuckets,
      {
        provide: adminConfig.KEY,
        useValue: {
          secret: config.secret ?? SECRET,
          oidc: { issuer: config.issuer ?? '' },
          failuresPerMinute: config.failuresPerMinute ?? 0,
        },
      },
      { provide: AuditService, useValue: audit },
      { provide: AdminTokenVerifier, useValue: tokens },
    ],
  }).compile();
  return { guard: moduleRef.get(AdminGuard), audit, tokens };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return (error as DomainError).code;
}

describe('AdminGuard (mocked ports)', () => {
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('should let a route without @AdminRoles through without credentials', async () => {
    const { guard, audit } = await setUp();
    await expect(guard.canActivate(contextFor('open', request()))).resolves.toBe(true);
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('should accept the TIB secret, raw or as a Bearer token, as the admin', async () => {
    const { guard } = await setUp();
    for (const header of [SECRET, `Bearer ${SECRET}`]) {
      const req = request(header);
      await expect(guard.canActivate(contextFor('adminOnly', req))).resolves.toBe(true);
      expect(req.user).toEqual({ id: 'tib-secret', kind: 'secret', roles: ['admin'] });
    }
  });

  it('should accept a Secret that itself starts with "Bearer " sent as it is, as TIB compares the whole header', async () => {
    const secret = `Bearer ${SECRET}`;
    const { guard } = await setUp({ secret });
    const req = request(secret);
    await expect(guard.canActivate(contextFor('adminOnly', req))).resolves.toBe(true);
    expect(req.user).toEqual({ id: 'tib-secret', kind: 'secret', roles: ['admin'] });
    // Without the prefix it is not the secret.
    await expect(codeOf(guard.canActivate(contextFor('adminOnly', request(SECRET))))).resolves.toBe('unauthorized');
  });

  it('should refuse a wrong secret as unauthorized and audit it once per client in 10 s', async () => {
    const { guard, audit } = await setUp();
    expect(await codeOf(guard.canActivate(contextFor('adminOnly', request('wrong'))))).toBe('unauthorized');
    expect(await codeOf(guard.canActivate(contextFor('adminOnly', request())))).toBe('unauthorized');
    expect(audit.record).toHaveBeenCalledTimes(1);
    expect(audit.record).toHaveBeenCalledWith(
      expect.objectContaining({
        type: 'admin.auth_failed',
        reason: 'unauthorized',
        actor: 'anonymous',
        ip: '192.0.2.1',
      }),
    );
  });

  it('should audit an IPv6 client once per /64 in 10 s, whichever address of the prefix it uses', async () => {
    const { guard, audit } = await setUp();
    for (let i = 1; i <= 20; i++) {
      const req = request(`wrong-${i}`, `2001:db8:5:6:${i.toString(16)}::${i.toString(16)}`);
      expect(await codeOf(guard.canActivate(contextFor('adminOnly', req)))).toBe('unauthorized');
    }
    expect(audit.record).toHaveBeenCalledTimes(1);
    // The next /64 is another client with an event of its own.
    expect(await codeOf(guard.canActivate(contextFor('adminOnly', request('wrong', '2001:db8:5:7::1'))))).toBe(
      'unauthorized',
    );
    expect(audit.record).toHaveBeenCalledTimes(2);
    expect(audit.record).toHaveBeenLastCalledWith(expect.objectContaining({ ip: '2001:db8:5:7::1' }));
  });

  it('should take roles from a verified token and refuse a route the roles do not cover as forbidden', async () => {
    const { guard, tokens, audit } = await setUp({ issuer: 'https://idp.example' });
    const token = 'aaa.bbb.ccc';
    await expect(guard.canActivate(contextFor('readable', request(`Bearer ${token}`)))).resolves.toBe(true);
    expect(tokens.verify).toHaveBeenCalledWith(token);
    expect(await codeOf(guard.canActivate(contextFor('adminOnly', request(`Bearer ${token}`))))).toBe('forbidden');
    // The actor names the role, so an auditor's refusal is not recorded as an admin's.
    expect(audit.record).toHaveBeenCalledWith(expect.objectContaining({ reason: 'forbidden', actor: 'auditor:alice' }));
  });

  it('should record a refused token that carries no broker role as token:<subject>, not as an admin', async () => {
    const { guard, tokens, audit } = await setUp({ issuer: 'https://idp.example' });
    tokens.verify.mockResolvedValueOnce({ subject: 'bob', roles: [] });
    expect(await codeOf(guard.canActivate(contextFor('readable', request('Bearer aaa.bbb.ccc'))))).toBe('forbidden');
    expect(audit.record).toHaveBeenCalledWith(expect.objectContaining({ reason: 'forbidden', actor: 'token:bob' }));
  });

  it('should refuse a token the verifier rejects as unauthorized', async () => {
    const { guard, tokens } = await setUp({ issuer: 'https://idp.example' });
    tokens.verify.mockRejectedValueOnce(new DomainError('unauthorized', 'bad'));
    expect(await codeOf(guard.canActivate(contextFor('readable', request('Bearer aaa.bbb.ccc'))))).toBe('unauthorized');
  });

  it('should answer unavailable when the issuer cannot be reached, without auditing or counting a failure', async () => {
    const { guard, tokens, audit } = await setUp({ issuer: 'https://idp.example', failuresPerMinute: 1 });
    tokens.verify.mockRejectedValue(
      new DomainError('unavailable', "The admin token issuer's keys could not be fetched"),
    );
    for (let i = 0; i < 3; i++) {
      expect(await codeOf(guard.canActivate(contextFor('readable', request('Bearer aaa.bbb.ccc'))))).toBe(
        'unavailable',
      );
    }
    expect(audit.record).not.toHaveBeenCalled();
    // Not counted: a bad credential afterwards is the client's first failure, not a throttled one.
    expect(await codeOf(guard.canActivate(contextFor('readable', request('wrong'))))).toBe('unauthorized');
    await expect(guard.canActivate(contextFor('adminOnly', request(SECRET)))).resolves.toBe(true);
  });

  it('should answer admin_disabled when neither a secret nor an issuer is configured', async () => {
    const { guard } = await setUp({ secret: '' });
    expect(await codeOf(guard.canActivate(contextFor('adminOnly', request(''))))).toBe('admin_disabled');
  });

  it('should answer rate_limited with Retry-After once a client has failed too often, but still accept the secret', async () => {
    const { guard } = await setUp({ failuresPerMinute: 2 });
    for (let i = 0; i < 2; i++) {
      expect(await codeOf(guard.canActivate(contextFor('adminOnly', request('wrong'))))).toBe('unauthorized');
    }
    const throttled = request('wrong');
    expect(await codeOf(guard.canActivate(contextFor('adminOnly', throttled)))).toBe('rate_limited');
    expect(throttled.res.setHeader).toHaveBeenCalledWith('Retry-After', expect.any(String));
    await expect(guard.canActivate(contextFor('adminOnly', request(SECRET)))).resolves.toBe(true);
  });
});
