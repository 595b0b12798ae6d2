import { jest } from '@jest/globals';
import { DomainError } from '@app/common';
import { Logger } from '@nestjs/common';
import { callbackParams, OidcDispatchStrategy } from './cloudentity.strategy.js';
import type { HardenedOidcStrategy, StrategyActions } from './hardened-oidc.strategy.js';

const ISSUER = 'https://idp.example';

function hardened(issParameterSupported = false) {
  const authenticateFor =
    jest.fn<(actions: StrategyActions, step: string, params: unknown, binding: string | undefined) => void>();
  const strategy = {
    discovery: { issuer: ISSUER, authorization_response_iss_parameter_supported: issParameterSupported },
    settings: { profileId: 'p1', providerName: 'openid-connect' },
    authenticateFor,
  } as unknown as HardenedOidcStrategy;
  return { strategy, authenticateFor };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    return (error as DomainError).code;
  }
  throw new Error('expected a DomainError');
}

/** The strategy as passport runs it: a per-request copy with the action functions bound. */
function perRequest(verify = (login: unknown, done: (err: unknown, user?: unknown) => void) => done(null, login)) {
  const base = new OidcDispatchStrategy(verify);
  const self = Object.create(base) as OidcDispatchStrategy;
  const actions = {
    success: jest.fn((_user: unknown) => undefined),
    error: jest.fn((_err: unknown) => undefined),
    redirect: jest.fn((_url: string, _status?: number) => undefined),
  };
  Object.assign(self, actions);
  return { self, actions };
}

describe('callbackParams', () => {
  const { strategy } = hardened();

  it('should return the code and state of a well-formed callback', () => {
    expect(callbackParams({ code: 'c', state: 's', iss: ISSUER }, strategy)).toEqual({ code: 'c', state: 's' });
  });

  it('should refuse another issuer, or none from a provider that always sends it (RFC 9207)', () => {
    expect(codeOf(() => callbackParams({ code: 'c', state: 's', iss: `${ISSUER}/other` }, strategy))).toBe('idp_error');
    expect(codeOf(() => callbackParams({ code: 'c', state: 's' }, hardened(true).strategy))).toBe('idp_error');
  });

  it('should map the IdP error parameter, access_denied apart', () => {
    expect(codeOf(() => callbackParams({ error: 'access_denied', state: 's' }, strategy))).toBe('access_denied');
    expect(codeOf(() => callbackParams({ error: 'server_error', state: 's' }, strategy))).toBe('idp_error');
  });

  it('should refuse a missing or repeated state, and a missing code', () => {
    expect(codeOf(() => callbackParams({ code: 'c' }, strategy))).toBe('state_invalid');
    expect(codeOf(() => callbackParams({ code: 'c', state: ['a', 'b'] }, strategy))).toBe('state_invalid');
    expect(codeOf(() => callbackParams({ state: 's' }, strategy))).toBe('idp_error');
  });
});

describe('OidcDispatchStrategy', () => {
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it("should hand a start to the request's hardened instance, and run beforeRedirect before passport redirects", () => {
    const { strategy, authenticateFor } = hardened();
    const { self, actions } = perRequest();
    const beforeRedirect = jest.fn(() => undefined);
    self.authenticate({ query: { code: 'stray' } }, { strategy, step: 'start', browserBinding: 'b1', beforeRedirect });
    expect(authenticateFor).toHaveBeenCalledWith(expect.anything(), 'start', null, 'b1');
    authenticateFor.mock.calls[0][0].redirect('https://idp.example/authorize?x=1');
    expect(beforeRedirect).toHaveBeenCalledTimes(1);
    expect(actions.redirect).toHaveBeenCalledWith('https://idp.example/authorize?x=1', undefined);
  });

  it("should redirect a start with the status the route asked for (TIB: 307), passport's default otherwise", () => {
    const { strategy, authenticateFor } = hardened();
    const { self, actions } = perRequest();
    self.authenticate({ query: {} }, { strategy, step: 'start', redirectStatus: 307 });
    authenticateFor.mock.calls[0][0].redirect('https://idp.example/authorize?x=1');
    expect(actions.redirect).toHaveBeenCalledWith('https://idp.example/authorize?x=1', 307);
  });

  it('should pass a finish the checked callback parameters and succeed with what validate returns', () => {
    const { strategy, authenticateFor } = hardened();
    const { self, actions } = perRequest((_login, done) => done(null, { validated: true }));
    self.authenticate({ query: { code: 'c', state: 's', iss: ISSUER } }, { strategy, step: 'finish' });
    expect(authenticateFor).toHaveBeenCalledWith(expect.anything(), 'finish', { code: 'c', state: 's' }, undefined);
    authenticateFor.mock.calls[0][0].success({ subject: 'sub-1' });
    expect(actions.success).toHaveBeenCalledWith({ validated: true });
  });

  it('should report a bad callback as an error with its code without running the hardened instance', () => {
    const { strategy, authenticateFor } = hardened();
    const { self, actions } = perRequest();
    self.authenticate({ query: { code: 'c', state: 's', iss: 'https://evil.example' } }, { strategy, step: 'finish' });
    expect(authenticateFor).not.toHaveBeenCalled();
    expect((actions.error.mock.calls[0][0] as DomainError).code).toBe('idp_error');
  });

  it('should answer unavailable when a route gives it no strategy', () => {
    const { self, actions } = perRequest();
    self.authenticate({ query: {} }, {});
    expect((actions.error.mock.calls[0][0] as DomainError).code).toBe('unavailable');
  });
});
