import {
  AdminTokenVerifier,
  CloudentityModule,
  OidcLoginService,
  OidcStrategyRegistry,
  type OidcClientSettings,
  type VerifiedLogin,
} from '@app/cloudentity';
import { DomainError } from '@app/common';
import { jest } from '@jest/globals';
import { BrokerConfigModule } from '@app/config';
import { DatabaseModule } from '@app/database';
import type { LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { networkInterfaces } from 'node:os';
import pg from 'pg';
import { testConfig } from '@test/support/config.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { startFakeIdp, type FakeIdp, type FakeIdpKnobs } from '@test/support/fake-idp.js';

/**
 * The relying party of libs/cloudentity against a misbehaving OpenID provider (oidc-rp.md §1):
 * every reject gets its code and never reaches userinfo; every accept signs in.
 */

// This suite boots only the modules under test, not the broker app.
function configFor(env: Record<string, string>) {
  return testConfig({ BROKER_IDP_TIMEOUT_MS: '1500', ...env });
}

async function bootModule(
  databaseUrl: string,
  env: Record<string, string> = {},
  logger?: LoggerService,
): Promise<TestingModule> {
  const builder = Test.createTestingModule({
    imports: [
      BrokerConfigModule.forRoot(configFor({ DATABASE_URL: databaseUrl, ...env })),
      DatabaseModule.forRoot(),
      CloudentityModule,
    ],
  });
  if (logger) builder.setLogger(logger);
  const moduleRef = await builder.compile();
  await moduleRef.init();
  return moduleRef;
}

/** Every log line written during the suite, to check that no secret ever reaches a log. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  private add(level: string, message: unknown, rest: unknown[]) {
    this.lines.push(`${level} ${String(message)} ${rest.map(String).join(' ')}`);
  }
  log(message: unknown, ...rest: unknown[]) {
    this.add('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.add('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.add('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.add('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.add('verbose', message, rest);
  }
}

const CALLBACK = 'http://127.0.0.1:3010/auth/p1/openid-connect/callback';

/** With jest's fake timers, only Date is faked (jose and the key refresh read Date.now()). */
const REAL_TIMERS = [
  'nextTick',
  'setImmediate',
  'clearImmediate',
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'queueMicrotask',
  'hrtime',
  'performance',
] as const;

function settingsFor(idp: FakeIdp, overrides: Partial<OidcClientSettings> = {}): OidcClientSettings {
  return {
    cacheKey: `p1@${idp.issuer}#1`,
    profileId: 'p1',
    providerName: 'openid-connect',
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    discoverUrl: idp.discoverUrl,
    scopes: ['openid', 'email', 'profile'],
    skipUserInfoRequest: false,
    callbackUrl: CALLBACK,
    ...overrides,
  };
}

const startReq = { query: {}, url: '/auth/p1/openid-connect', headers: {}, method: 'GET' };

function callbackReq(query: Record<string, string>) {
  return {
    query,
    url: `/auth/p1/openid-connect/callback?${new URLSearchParams(query).toString()}`,
    headers: {},
    method: 'GET',
  };
}

/** Secrets seen during the run (codes, states, nonces, verifiers' challenges, client secrets). */
const secretsSeen = new Set<string>();

/** Follows the authorize URL at the fake IdP (no login page) and returns the callback query. */
async function authorize(url: string): Promise<Record<string, string>> {
  const res = await fetch(url, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
  const query = Object.fromEntries(location.searchParams);
  for (const key of ['code', 'state']) if (query[key]) secretsSeen.add(query[key]);
  const sent = new URL(url).searchParams;
  for (const key of ['nonce', 'code_challenge', 'state']) if (sent.get(key)) secretsSeen.add(sent.get(key)!);
  return query;
}

async function login(service: OidcLoginService, settings: OidcClientSettings): Promise<VerifiedLogin> {
  const query = await authorize(await service.start(settings, startReq));
  return service.finish(settings, callbackReq(query));
}

/** Asserts a DomainError with this code, whose message carries none of the callback's secrets. */
async function expectCode(
  promise: Promise<unknown>,
  code: string,
  query?: Record<string, string>,
): Promise<DomainError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(DomainError);
  const error = caught as DomainError;
  expect(error.code).toBe(code);
  for (const value of Object.values(query ?? {})) {
    if (value.length >= 8) expect(error.message).not.toContain(value);
  }
  return error;
}

/** Counts SQL statements sent to Postgres (every round trip goes through pg.Client#query). */
async function countQueries<T>(fn: () => Promise<T>): Promise<{ result: T; queries: number }> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  let queries = 0;
  proto.query = function (this: unknown, ...args: unknown[]) {
    queries++;
    return original.apply(this, args);
  };
  try {
    const result = await fn();
    return { result, queries };
  } finally {
    proto.query = original;
  }
}

describe('OpenID Connect relying party (libs/cloudentity) against a misbehaving IdP', () => {
  let db: TestDatabase;
  let moduleA: TestingModule;
  let moduleB: TestingModule;
  let service: OidcLoginService;
  let idp: FakeIdp;
  const extraIdps: FakeIdp[] = [];
  const logs = new CapturingLogger();

  /** A fresh IdP (own discovery and JWKS cache entries) for cases decided at discovery time. */
  async function freshIdp(knobs: Partial<FakeIdpKnobs> = {}, clientSecret?: string): Promise<FakeIdp> {
    const fresh = await startFakeIdp({ knobs, clientSecret });
    extraIdps.push(fresh);
    secretsSeen.add(fresh.clientSecret);
    return fresh;
  }

  beforeAll(async () => {
    db = await createTestDatabase('oidc');
    idp = await startFakeIdp();
    secretsSeen.add(idp.clientSecret);
    moduleA = await bootModule(db.url, {}, logs);
    moduleB = await bootModule(db.url, {}, logs);
    service = moduleA.get(OidcLoginService);
  });

  afterAll(async () => {
    await moduleA?.close();
    await moduleB?.close();
    await idp?.stop();
    await Promise.all(extraIdps.map((i) => i.stop()));
    await db?.drop();
  });

  beforeEach(() => {
    idp.reset();
    idp.resetCalls();
  });

  describe('a normal login', () => {
    it('should send state, nonce, S256 PKCE and the exact redirect URI, and return verified, merged claims', async () => {
      idp.set({ userinfoClaims: { groups: ['devs'], name: 'Ada from userinfo' } });
      const url = new URL(await service.start(settingsFor(idp), startReq));
      expect(`${url.origin}${url.pathname}`).toBe(`${idp.issuer}/oauth2/authorize`);
      const sent = url.searchParams;
      expect(sent.get('response_type')).toBe('code');
      expect(sent.get('client_id')).toBe(idp.clientId);
      expect(sent.get('redirect_uri')).toBe(CALLBACK);
      expect(sent.get('scope')).toBe('openid email profile');
      expect(sent.get('code_challenge_method')).toBe('S256');
      expect(sent.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(sent.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(sent.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(sent.get('nonce')).not.toBe(sent.get('state'));

      const query = await authorize(url.toString());
      const result = await service.finish(settingsFor(idp), callbackReq(query));
      expect(result.issuer).toBe(idp.issuer);
      expect(result.subject).toBe('dev-123');
      expect(result.idTokenClaims.nonce).toBe(sent.get('nonce'));
      expect(result.idTokenClaims.name).toBe('Ada Lovelace');
      expect(result.claims.name).toBe('Ada from userinfo');
      expect(result.claims.groups).toEqual(['devs']);
      expect(result.claims.email).toBe('ada@example.com');
      expect(idp.calls.lastPkceOk).toBe(true);
      expect(idp.calls.lastTokenAuth).toBe('basic');
      expect(idp.calls.userinfo).toBe(1);
      expect(idp.calls.lastUserinfoAuth).toBe('bearer');
    });

    it("should not let the ID token's email_verified vouch for a different email from userinfo", async () => {
      // email_verified: undefined drops out of the JSON: userinfo sends another email, no verdict.
      idp.set({ userinfoClaims: { email: 'victim@example.com', email_verified: undefined } });
      const result = await login(service, settingsFor(idp));
      expect(result.idTokenClaims.email_verified).toBe(true);
      expect(result.claims.email).toBe('victim@example.com');
      expect(result.claims.email_verified).toBeUndefined();
      idp.set({ userinfoClaims: { email_verified: undefined } });
      expect((await login(service, settingsFor(idp))).claims).toMatchObject({
        email: 'ada@example.com',
        email_verified: true,
      });
    });

    it('should store the state, nonce and verifier server-side under the state handle', async () => {
      const url = new URL(await service.start(settingsFor(idp), startReq));
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const { rows } = await client.query(
          'SELECT profile_id, provider, nonce, code_verifier, expires_at - created_at AS ttl FROM login_states WHERE handle = $1',
          [url.searchParams.get('state')],
        );
        expect(rows).toHaveLength(1);
        expect(rows[0].profile_id).toBe('p1');
        expect(rows[0].provider).toBe('openid-connect');
        expect(rows[0].nonce).toBe(url.searchParams.get('nonce'));
        expect(rows[0].code_verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(rows[0].ttl.minutes ?? 0).toBe(10);
      } finally {
        await client.end();
      }
    });

    it('should not call userinfo when the profile skips it, and use the ID token claims', async () => {
      const result = await login(service, settingsFor(idp, { skipUserInfoRequest: true, cacheKey: 'skip-ui' }));
      expect(result.subject).toBe('dev-123');
      expect(result.claims.email).toBe('ada@example.com');
      expect(idp.calls.userinfo).toBe(0);
    });

    it('should accept ES256 and PS256 ID tokens', async () => {
      idp.set({ idTokenAlg: 'ES256' });
      expect((await login(service, settingsFor(idp))).subject).toBe('dev-123');
      idp.set({ idTokenAlg: 'PS256' });
      expect((await login(service, settingsFor(idp))).subject).toBe('dev-123');
    });

    it('should accept several audiences when azp is the client', async () => {
      idp.set({ aud: [idp.clientId, 'another-api'], azp: idp.clientId });
      expect((await login(service, settingsFor(idp))).subject).toBe('dev-123');
    });

    it('should accept a callback without the RFC 9207 iss parameter from a provider that does not promise it', async () => {
      const plain = await freshIdp({ issParameterSupported: false, issParam: 'omit' });
      expect((await login(service, settingsFor(plain))).subject).toBe('dev-123');
    });

    it('should reuse one strategy and never fetch discovery or JWKS per login', async () => {
      const registry = moduleA.get(OidcStrategyRegistry);
      await login(service, settingsFor(idp));
      const built = registry.constructedCount;
      idp.resetCalls();
      for (let i = 0; i < 3; i++) await login(service, settingsFor(idp));
      expect(registry.constructedCount).toBe(built);
      expect(idp.calls.discovery).toBe(0);
      expect(idp.calls.jwks).toBe(0);
      expect(idp.calls.userinfo).toBe(3);
      // A changed profile (new cacheKey) builds a new strategy, still without refetching discovery.
      await login(service, settingsFor(idp, { cacheKey: 'p1#2' }));
      expect(registry.constructedCount).toBe(built + 1);
      expect(idp.calls.discovery).toBe(0);
    });

    it('should ignore a code on the start route and still start a new login', async () => {
      const url = await service.start(settingsFor(idp), { ...startReq, query: { code: 'x', state: 'y' } });
      expect(new URL(url).searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(idp.calls.token).toBe(0);
    });
  });

  describe('database round trips', () => {
    it('should use exactly one round trip on start and one on the callback', async () => {
      const settings = settingsFor(idp);
      await login(service, settings); // warm discovery, strategy and keys
      const started = await countQueries(() => service.start(settings, startReq));
      expect(started.queries).toBe(1);
      const query = await authorize(started.result);
      const finished = await countQueries(() => service.finish(settings, callbackReq(query)));
      expect(finished.result.subject).toBe('dev-123');
      expect(finished.queries).toBe(1);
    });
  });

  describe('state', () => {
    it('should reject a callback without state before any token request', async () => {
      await expectCode(
        service.finish(settingsFor(idp), callbackReq({ code: 'some-code-value', iss: idp.issuer })),
        'state_invalid',
      );
      expect(idp.calls.token).toBe(0);
      expect(idp.calls.userinfo).toBe(0);
    });

    it('should reject an unknown state', async () => {
      const query = { code: 'some-code-value', state: 'A'.repeat(43), iss: idp.issuer };
      await expectCode(service.finish(settingsFor(idp), callbackReq(query)), 'state_invalid', query);
      await expectCode(service.finish(settingsFor(idp), callbackReq({ ...query, state: 'short' })), 'state_invalid');
      expect(idp.calls.token).toBe(0);
      expect(idp.calls.userinfo).toBe(0);
    });

    it('should reject a replayed state', async () => {
      const settings = settingsFor(idp);
      const query = await authorize(await service.start(settings, startReq));
      await service.finish(settings, callbackReq(query));
      idp.resetCalls();
      await expectCode(service.finish(settings, callbackReq(query)), 'state_invalid', query);
      expect(idp.calls.token).toBe(0);
      expect(idp.calls.userinfo).toBe(0);
    });

    it('should reject an expired state', async () => {
      const settings = settingsFor(idp);
      const query = await authorize(await service.start(settings, startReq));
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query(`UPDATE login_states SET expires_at = now() - interval '1 second' WHERE handle = $1`, [
          query.state,
        ]);
      } finally {
        await client.end();
      }
      await expectCode(service.finish(settings, callbackReq(query)), 'state_invalid', query);
      expect(idp.calls.token).toBe(0);
      expect(idp.calls.userinfo).toBe(0);
    });

    it('should reject a state started for another profile', async () => {
      const query = await authorize(await service.start(settingsFor(idp), startReq));
      const other = settingsFor(idp, { profileId: 'p2', cacheKey: 'p2#1' });
      await expectCode(service.finish(other, callbackReq(query)), 'state_invalid', query);
      expect(idp.calls.token).toBe(0);
      // The state still works where it belongs.
      expect((await service.finish(settingsFor(idp), callbackReq(query))).subject).toBe('dev-123');
    });

    it('should let several tabs log in at once, finishing in any order', async () => {
      const settings = settingsFor(idp);
      const first = await authorize(await service.start(settings, startReq));
      const second = await authorize(await service.start(settings, startReq));
      expect(first.state).not.toBe(second.state);
      expect((await service.finish(settings, callbackReq(second))).subject).toBe('dev-123');
      expect((await service.finish(settings, callbackReq(first))).subject).toBe('dev-123');
    });

    it('should complete a browser-bound state only with the same binding', async () => {
      const settings = settingsFor(idp);
      const stolen = await authorize(await service.start(settings, startReq, { browserBinding: 'cookie-of-alice' }));
      await expectCode(
        service.finish(settings, callbackReq(stolen), { browserBinding: 'cookie-of-victim' }),
        'state_invalid',
        stolen,
      );
      const again = await authorize(await service.start(settings, startReq, { browserBinding: 'cookie-of-alice' }));
      await expectCode(service.finish(settings, callbackReq(again)), 'state_invalid', again);
      expect(idp.calls.token).toBe(0);
      const good = await authorize(await service.start(settings, startReq, { browserBinding: 'cookie-of-alice' }));
      const result = await service.finish(settings, callbackReq(good), { browserBinding: 'cookie-of-alice' });
      expect(result.subject).toBe('dev-123');
      // The wrong browsers did not consume the states: their owner still finishes them, once.
      for (const query of [stolen, again]) {
        const own = await service.finish(settings, callbackReq(query), { browserBinding: 'cookie-of-alice' });
        expect(own.subject).toBe('dev-123');
        await expectCode(
          service.finish(settings, callbackReq(query), { browserBinding: 'cookie-of-alice' }),
          'state_invalid',
          query,
        );
      }
    });

    it('should finish on another broker instance a login started on this one', async () => {
      const settings = settingsFor(idp);
      const query = await authorize(await service.start(settings, startReq));
      const result = await moduleB.get(OidcLoginService).finish(settings, callbackReq(query));
      expect(result.subject).toBe('dev-123');
      await expectCode(service.finish(settings, callbackReq(query)), 'state_invalid', query);
    });
  });

  describe('ID token rejects (each stops before userinfo)', () => {
    const cases: [string, (idp: FakeIdp) => Partial<FakeIdpKnobs>, string][] = [
      ['a bad signature', () => ({ badSignature: true }), 'id_token_invalid'],
      ['a signature by a key not in the JWKS', () => ({ foreignKey: true }), 'id_token_invalid'],
      ['alg none', () => ({ algNone: true }), 'id_token_invalid'],
      ['HS256 signed with the client secret', () => ({ hs256WithSecret: true }), 'id_token_invalid'],
      ['a wrong iss', (i) => ({ iss: `${i.issuer}1` }), 'id_token_invalid'],
      ['a wrong aud', (i) => ({ aud: `${i.clientId}1` }), 'id_token_invalid'],
      ['several audiences without azp', (i) => ({ aud: [i.clientId, 'another-api'] }), 'id_token_invalid'],
      ['several audiences with another azp', (i) => ({ aud: [i.clientId, 'x'], azp: 'x' }), 'id_token_invalid'],
      ['a missing iat', () => ({ omitIat: true }), 'id_token_invalid'],
      ['an iat in the future', () => ({ iatInFuture: true }), 'id_token_invalid'],
      ['a missing sub', () => ({ omitSub: true }), 'id_token_invalid'],
      ['a missing exp', () => ({ omitExp: true }), 'id_token_invalid'],
      ['an expired token', () => ({ expired: true }), 'id_token_invalid'],
      ['no ID token at all', () => ({ omitIdToken: true }), 'id_token_invalid'],
      ['a missing nonce', () => ({ nonce: 'omit' }), 'nonce_mismatch'],
      ['a different nonce', () => ({ nonce: 'different' }), 'nonce_mismatch'],
    ];

    it.each(cases)('should reject %s', async (_name, knobs, code) => {
      idp.set(knobs(idp));
      const settings = settingsFor(idp);
      const query = await authorize(await service.start(settings, startReq));
      await expectCode(service.finish(settings, callbackReq(query)), code, query);
      expect(idp.calls.token).toBe(1);
      expect(idp.calls.userinfo).toBe(0);
    });
  });

  describe('other rejects', () => {
    it('should reject a userinfo response about another subject', async () => {
      idp.set({ userinfoSub: 'dev-123invalid' });
      const settings = settingsFor(idp);
      const query = await authorize(await service.start(settings, startReq));
      await expectCode(service.finish(settings, callbackReq(query)), 'userinfo_sub_mismatch', query);
      expect(idp.calls.userinfo).toBe(1);
    });

    it('should fail with userinfo_failed when userinfo is down', async () => {
      idp.set({ userinfoDown: true });
      await expectCode(login(service, settingsFor(idp)), 'userinfo_failed');
    });

    it('should map error=access_denied to access_denied and other errors to idp_error', async () => {
      idp.set({ authorizeError: 'access_denied' });
      await expectCode(login(service, settingsFor(idp)), 'access_denied');
      idp.set({ authorizeError: 'server_error' });
      const error = await expectCode(login(service, settingsFor(idp)), 'idp_error');
      expect(error.message).toContain('server_error');
      expect(idp.calls.token).toBe(0);
      expect(idp.calls.userinfo).toBe(0);
    });

    it('should reject an authorization response whose iss parameter names another issuer', async () => {
      idp.set({ issParam: 'wrong' });
      await expectCode(login(service, settingsFor(idp)), 'idp_error');
      expect(idp.calls.token).toBe(0);
    });

    it('should reject a callback without iss when discovery says the provider always sends it (RFC 9207)', async () => {
      idp.set({ issParam: 'omit' });
      const query = await authorize(await service.start(settingsFor(idp), startReq));
      expect(query.iss).toBeUndefined();
      const error = await expectCode(service.finish(settingsFor(idp), callbackReq(query)), 'idp_error', query);
      expect(error.message).toMatch(/no iss/);
      expect(idp.calls.token).toBe(0);
    });

    it('should reject a callback without a code', async () => {
      const query = await authorize(await service.start(settingsFor(idp), startReq));
      await expectCode(service.finish(settingsFor(idp), callbackReq({ state: query.state })), 'idp_error');
      expect(idp.calls.token).toBe(0);
    });

    it('should fail the exchange when the PKCE verifier does not match', async () => {
      idp.set({ corruptPkce: true });
      await expectCode(login(service, settingsFor(idp)), 'token_exchange_failed');
      expect(idp.calls.lastPkceOk).toBe(false);
      expect(idp.calls.userinfo).toBe(0);
    });

    it('should time out on a slow token endpoint and fail on a dead one', async () => {
      idp.set({ tokenDelayMs: 2500 });
      const began = Date.now();
      await expectCode(login(service, settingsFor(idp)), 'token_exchange_failed');
      expect(Date.now() - began).toBeLessThan(2400);
      idp.set({ tokenDelayMs: 0, tokenDown: true });
      await expectCode(login(service, settingsFor(idp)), 'token_exchange_failed');
      expect(idp.calls.userinfo).toBe(0);
    });
  });

  describe('discovery', () => {
    it('should refuse a provider whose discovery document names another issuer, never redirecting to it', async () => {
      const bad = await freshIdp();
      bad.set({ discoveryIssuer: `${bad.issuer}INVALID` });
      await expectCode(service.start(settingsFor(bad), startReq), 'discovery_failed');
      await expectCode(
        service.finish(settingsFor(bad), callbackReq({ code: 'c'.repeat(20), state: 's'.repeat(43) })),
        'discovery_failed',
      );
      expect(bad.calls.authorize).toBe(0);
      expect(bad.calls.token).toBe(0);
    });

    it('should heal when discovery was down at first and is back later', async () => {
      const flaky = await freshIdp({ discoveryDown: true });
      await expectCode(service.start(settingsFor(flaky), startReq), 'discovery_failed');
      await expectCode(service.start(settingsFor(flaky), startReq), 'discovery_failed');
      expect(flaky.calls.discovery).toBe(2);
      flaky.set({ discoveryDown: false });
      expect((await login(service, settingsFor(flaky))).subject).toBe('dev-123');
    });

    it('should refresh an expired document in the background, keep it while the IdP is down, and drop it when it turns invalid', async () => {
      const shortTtl = await bootModule(db.url, { BROKER_DISCOVERY_TTL_SECONDS: '1' }, logs);
      try {
        const shortService = shortTtl.get(OidcLoginService);
        const fresh = await freshIdp();
        await login(shortService, settingsFor(fresh));
        expect(fresh.calls.discovery).toBe(1);
        await new Promise((r) => setTimeout(r, 1100));
        fresh.set({ discoveryDown: true });
        expect((await login(shortService, settingsFor(fresh))).subject).toBe('dev-123');
        await new Promise((r) => setTimeout(r, 100));
        expect(fresh.calls.discovery).toBe(2);
        await new Promise((r) => setTimeout(r, 1100));
        fresh.set({ discoveryDown: false, discoveryIssuer: `${fresh.issuer}INVALID` });
        // The stale copy answers this request; its background refresh finds the bad issuer.
        await shortService.start(settingsFor(fresh), startReq);
        await new Promise((r) => setTimeout(r, 100));
        const authorizeCalls = fresh.calls.authorize;
        await expectCode(shortService.start(settingsFor(fresh), startReq), 'discovery_failed');
        expect(fresh.calls.authorize).toBe(authorizeCalls);
      } finally {
        await shortTtl.close();
      }
    });

    it('should refuse plain http to a host that is not loopback unless the profile allows it', async () => {
      // A real plain-http IdP on this machine's network address (not loopback).
      const lan = Object.values(networkInterfaces())
        .flat()
        .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;
      expect(lan).toBeDefined();
      const remote = await startFakeIdp({ host: lan });
      extraIdps.push(remote);
      secretsSeen.add(remote.clientSecret);
      const error = await expectCode(login(service, settingsFor(remote)), 'discovery_failed');
      expect(error.message).toMatch(/plain http/);
      expect(remote.calls.discovery).toBe(0);
      const allowed = settingsFor(remote, { cacheKey: 'p1#insecure-ok', allowInsecureHttp: true });
      expect((await login(service, allowed)).subject).toBe('dev-123');
      expect(remote.calls.discovery).toBe(1);
    });

    it('should refuse a discovery document with any endpoint on plain http to a host that is not loopback', async () => {
      const loose = await freshIdp();
      for (const field of [
        'authorization_endpoint',
        'token_endpoint',
        'userinfo_endpoint',
        'jwks_uri',
        'end_session_endpoint',
      ] as const) {
        loose.set({ insecureEndpoint: field });
        const error = await expectCode(service.start(settingsFor(loose), startReq), 'discovery_failed');
        expect(error.message).toContain(field);
      }
      expect(loose.calls.authorize).toBe(0);
      // The profile's AllowInsecureHttp accepts the same document.
      loose.set({ insecureEndpoint: 'authorization_endpoint' });
      const url = await service.start(settingsFor(loose, { cacheKey: 'p1#loose', allowInsecureHttp: true }), startReq);
      expect(url).toMatch(/^http:\/\/idp\.example\.test\//);
    });

    it('should share one discovery fetch between concurrent first logins', async () => {
      const fresh = await freshIdp();
      const urls = await Promise.all([1, 2, 3, 4].map(() => service.start(settingsFor(fresh), startReq)));
      expect(new Set(urls.map((u) => new URL(u).searchParams.get('state'))).size).toBe(4);
      expect(fresh.calls.discovery).toBe(1);
    });
  });

  describe('keys', () => {
    it('should follow a key rotation by refetching the JWKS once for the unknown kid', async () => {
      const rotating = await freshIdp();
      await login(service, settingsFor(rotating));
      expect(rotating.calls.jwks).toBe(1);
      await rotating.rotateKeys();
      await new Promise((r) => setTimeout(r, 1100)); // the refetch cooldown (1 s)
      expect((await login(service, settingsFor(rotating))).subject).toBe('dev-123');
      expect(rotating.calls.jwks).toBe(2);
    });

    it('should follow a key rotation right after the last JWKS fetch by waiting out the refetch cooldown once', async () => {
      const rotating = await freshIdp();
      // Date stands still, so the rotation below falls inside the refetch cooldown of the first
      // fetch however slow the machine is; timers and I/O stay real.
      jest.useFakeTimers({ doNotFake: [...REAL_TIMERS] });
      try {
        await login(service, settingsFor(rotating));
        expect(rotating.calls.jwks).toBe(1);
        await rotating.rotateKeys();
        // Two logins meet the new kid at once: one wait, one refetch (single flight), both succeed.
        const results = await Promise.all([
          login(service, settingsFor(rotating)),
          login(service, settingsFor(rotating)),
        ]);
        expect(results.map((r) => r.subject)).toEqual(['dev-123', 'dev-123']);
        expect(rotating.calls.jwks).toBe(2);
        // A kid the IdP never published costs one more wait and refetch, then is refused.
        rotating.set({ idTokenKid: 'never-published' });
        await expectCode(login(service, settingsFor(rotating)), 'id_token_invalid');
        expect(rotating.calls.jwks).toBe(3);
        expect(rotating.calls.userinfo).toBe(3);
      } finally {
        jest.useRealTimers();
      }
    });

    it('should keep verifying with cached keys while the JWKS endpoint is down', async () => {
      const flaky = await freshIdp();
      await login(service, settingsFor(flaky));
      expect(flaky.calls.jwks).toBe(1);
      flaky.set({ jwksDown: true });
      await new Promise((r) => setTimeout(r, 1100));
      expect((await login(service, settingsFor(flaky))).subject).toBe('dev-123');
      expect((await login(service, settingsFor(flaky))).subject).toBe('dev-123');
      // A rotated key cannot be fetched while the endpoint is down: an outage, not a forgery.
      await flaky.rotateKeys();
      await expectCode(login(service, settingsFor(flaky)), 'discovery_failed');
      expect(flaky.calls.jwks).toBe(2);
      expect(flaky.calls.userinfo).toBe(3);
      flaky.set({ jwksDown: false });
      await new Promise((r) => setTimeout(r, 1100));
      expect((await login(service, settingsFor(flaky))).subject).toBe('dev-123');
    });

    it('should keep cached keys that are older than any cache age while the JWKS endpoint is down', async () => {
      const flaky = await freshIdp();
      await login(service, settingsFor(flaky));
      flaky.set({ jwksDown: true });
      // Only Date moves (jose and the key refresh read Date.now()); timers and I/O stay real.
      jest.useFakeTimers({ doNotFake: [...REAL_TIMERS] });
      try {
        jest.setSystemTime(Date.now() + 60 * 60 * 1000);
        expect((await login(service, settingsFor(flaky))).subject).toBe('dev-123');
        await new Promise((r) => setTimeout(r, 200)); // let the background refresh fail
        expect(flaky.calls.jwks).toBe(2);
        expect((await login(service, settingsFor(flaky))).subject).toBe('dev-123');
      } finally {
        jest.useRealTimers();
      }
    });

    it('should accept a token without kid when exactly one published key fits', async () => {
      const kidless = await freshIdp({ omitKid: true, kidlessJwks: true });
      expect((await login(service, settingsFor(kidless))).subject).toBe('dev-123');
      expect(kidless.calls.userinfo).toBe(1);
    });

    it('should reject a token without kid when several published keys fit', async () => {
      const ambiguous = await freshIdp({ omitKid: true, kidlessJwks: true, extraRsaKey: true });
      await expectCode(login(service, settingsFor(ambiguous)), 'id_token_invalid');
      expect(ambiguous.calls.userinfo).toBe(0);
    });
  });

  describe('client authentication', () => {
    it('should use client_secret_basic when the IdP accepts only that, form-encoding the credentials', async () => {
      const basicOnly = await freshIdp(
        { advertisedAuthMethods: ['client_secret_basic'], tokenAuth: 'basic' },
        'se:cr+et/%ü with space',
      );
      expect((await login(service, settingsFor(basicOnly))).subject).toBe('dev-123');
      expect(basicOnly.calls.lastTokenAuth).toBe('basic');
    });

    it('should use client_secret_post when the IdP supports only that', async () => {
      const postOnly = await freshIdp({ advertisedAuthMethods: ['client_secret_post'], tokenAuth: 'post' });
      expect((await login(service, settingsFor(postOnly))).subject).toBe('dev-123');
      expect(postOnly.calls.lastTokenAuth).toBe('post');
    });

    it('should default to client_secret_basic when discovery lists no methods', async () => {
      const silent = await freshIdp({ advertisedAuthMethods: null, tokenAuth: 'basic' });
      expect((await login(service, settingsFor(silent))).subject).toBe('dev-123');
      expect(silent.calls.lastTokenAuth).toBe('basic');
    });

    it('should use the method the settings force', async () => {
      idp.set({ tokenAuth: 'post' });
      const settings = settingsFor(idp, { tokenEndpointAuthMethod: 'client_secret_post', cacheKey: 'forced-post' });
      expect((await login(service, settings)).subject).toBe('dev-123');
      expect(idp.calls.lastTokenAuth).toBe('post');
    });

    it('should fail with token_exchange_failed when the client is refused', async () => {
      idp.set({ tokenAuth: 'post' });
      await expectCode(login(service, settingsFor(idp)), 'token_exchange_failed');
      expect(idp.calls.lastTokenAuth).toBe('basic');
      expect(idp.calls.userinfo).toBe(0);
    });
  });

  describe('logs', () => {
    it('should never log a code, state, nonce, PKCE challenge or client secret', () => {
      expect(secretsSeen.size).toBeGreaterThan(20);
      expect(logs.lines.length).toBeGreaterThan(0);
      const text = logs.lines.join('\n');
      for (const secret of secretsSeen) expect(text).not.toContain(secret);
    });
  });
});

describe('AdminTokenVerifier against an OpenID provider', () => {
  let db: TestDatabase;
  let enabled: TestingModule;
  let disabled: TestingModule;
  let verifier: AdminTokenVerifier;
  let adminIdp: FakeIdp;
  let otherIdp: FakeIdp;
  const audience = 'broker-admin-api';

  beforeAll(async () => {
    db = await createTestDatabase('admintok');
    adminIdp = await startFakeIdp({ tenantPath: '/acme/security' });
    otherIdp = await startFakeIdp({ tenantPath: '/acme/security' });
    enabled = await bootModule(db.url, {
      BROKER_ADMIN_OIDC_ISSUER: adminIdp.issuer,
      BROKER_ADMIN_OIDC_AUDIENCE: audience,
      BROKER_ADMIN_ROLES_CLAIM: 'broker_roles',
    });
    disabled = await bootModule(db.url);
    verifier = enabled.get(AdminTokenVerifier);
  });

  afterAll(async () => {
    await enabled?.close();
    await disabled?.close();
    await adminIdp?.stop();
    await otherIdp?.stop();
    await db?.drop();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: adminIdp.issuer,
    sub: 'sec-team-1',
    aud: audience,
    iat: now(),
    exp: now() + 300,
    ...extra,
  });

  it('should accept a good token and map broker roles from an array claim', async () => {
    const token = await adminIdp.signJwt(claims({ broker_roles: ['broker:admin', 'something:else'] }));
    await expect(verifier.verify(token)).resolves.toEqual({ subject: 'sec-team-1', roles: ['admin'] });
  });

  it('should map roles from a space-separated string and accept ES256', async () => {
    const token = await adminIdp.signJwt(claims({ broker_roles: 'broker:auditor broker:admin' }), { alg: 'ES256' });
    const result = await verifier.verify(token);
    expect(result.roles.sort()).toEqual(['admin', 'auditor']);
  });

  it('should give no roles when the claim is missing', async () => {
    await expect(verifier.verify(await adminIdp.signJwt(claims()))).resolves.toEqual({
      subject: 'sec-team-1',
      roles: [],
    });
  });

  it.each([
    ['another issuer in the token', () => adminIdp.signJwt(claims({ iss: 'http://evil.example' }))],
    ['a token from another provider', () => otherIdp.signJwt(claims({ iss: otherIdp.issuer }))],
    ['an expired token', () => adminIdp.signJwt(claims({ iat: now() - 900, exp: now() - 300 }))],
    ['a wrong audience', () => adminIdp.signJwt(claims({ aud: 'another-api' }))],
    ['a token without exp', () => adminIdp.signJwt({ iss: adminIdp.issuer, sub: 's', aud: audience })],
    ['a bad signature', () => adminIdp.signJwt(claims(), { foreign: true })],
    ['garbage', () => Promise.resolve('not.a.jwt')],
  ])('should reject %s as unauthorized', async (_name, make) => {
    await expectCode(verifier.verify(await make()), 'unauthorized');
  });

  it('should reject an unsigned (alg none) token', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify(claims({ broker_roles: ['broker:admin'] }))).toString('base64url');
    await expectCode(verifier.verify(`${header}.${payload}.`), 'unauthorized');
  });

  it('should refuse every token when no issuer is configured', async () => {
    const token = await adminIdp.signJwt(claims({ broker_roles: ['broker:admin'] }));
    await expectCode(disabled.get(AdminTokenVerifier).verify(token), 'unauthorized');
  });
});
