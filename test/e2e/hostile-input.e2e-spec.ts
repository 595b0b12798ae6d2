import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runInThisContext } from 'node:vm';
import fc from 'fast-check';
import pg from 'pg';
import { IdpHttpClient } from '@app/cloudentity';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { AUDIT_KEYS, CALLBACK_KEYS, DEVELOPER_KEYS, NASTY, pct, queryOf } from '../soak/support/hostile-arbitraries.js';
import {
  ADMIN_SECRET,
  CLIENT_SECRET,
  PORTAL_SECRET,
  PORTAL_TOKEN,
  guideProfile,
  putProfile,
  startStack,
  type Stack,
} from '@test/support/stack.js';

/**
 * Hostile input against the real broker (real Postgres, the dev IdP, the portal emulator):
 * property-based fuzzing of the callback, the audit and developer query parameters, developer ids
 * and profiles (never a 5xx, never an unhandled rejection, never an invalid profile stored), bad
 * bodies, SQL- and HTML-looking strings, open redirects, rate limits, cookies behind HTTPS and TLS
 * towards the IdP, and finally a grep of every log line for every secret value seen on the way.
 */

/** Fixed in CI so a failure replays; the soak suite runs the callback property with a random seed. */
const SEED = 20_261_127;
const BODY_LIMIT = 4096;
const HOSTILE_NAME = `'; DROP TABLE profiles; --<script>alert(1)</script>`;
const HOSTILE_DEVELOPER = `<img src=x onerror=alert(1)>'; DROP TABLE developers; --`;

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
/**
 * Node emits 'unhandledRejection' on the real process object; jest hands test code a stand-in
 * with its own listeners, so the hook goes on the process of the main context.
 */
const realProcess = runInThisContext('process') as NodeJS.Process;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every secret value seen during the run (codes, nonces, verifiers, tokens, states, cookies). */
const secrets = new Map<string, string>();
const remember = (kind: string, value: string | null | undefined) => {
  if (value && value.length >= 8) secrets.set(value, kind);
};

/** A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI. */
function selfSignedCert(): { certFile: string; keyFile: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'broker-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    '/usr/bin/openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
      .concat(['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
      .concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}

function httpsGet(url: string, ca: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = https.get(url, { ca, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

describe('hostile input (e2e: real broker, Postgres, dev IdP, portal emulator)', () => {
  let stack: Stack;
  let sql: pg.Client;
  let limits: TestBroker | undefined;
  let secure: TestBroker | undefined;
  let tlsIdp: https.Server | undefined;
  let developerId: string;
  /** Every Location the main broker answered with, to check where it ever redirects. */
  const locations: string[] = [];

  const returnUrl = () => `${stack.portal.url}/sso`;
  const failureRedirect = () => `${stack.portal.url}/?fail=true`;

  /** fetch against the main broker, never following redirects, remembering every Location. */
  async function call(pathAndQuery: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(`${stack.broker.url}${pathAndQuery}`, { ...init, redirect: 'manual' });
    const location = res.headers.get('location');
    if (location !== null) locations.push(location);
    return res;
  }

  const admin = (pathAndQuery: string, init: RequestInit = {}) =>
    call(pathAndQuery, {
      ...init,
      headers: { Authorization: ADMIN_SECRET, ...(init.headers as Record<string, string>) },
    });

  /** A whole login through the dev IdP, remembering every secret value it shows; `extra` is appended to start and callback. */
  async function fullLogin(account: string, extra = '') {
    const start = await call(`/auth/guide/openid-connect${extra ? `?${extra}` : ''}`);
    await start.arrayBuffer();
    const authorize = new URL(start.headers.get('location') ?? '');
    const cookie = (start.headers.getSetCookie().find((c) => c.startsWith('sso_broker_login=')) ?? '').split(';')[0];
    remember('binding cookie', cookie.split('=')[1]);
    const state = authorize.searchParams.get('state');
    remember('state', state);
    remember('nonce', authorize.searchParams.get('nonce'));
    const { rows } = await sql.query<{ code_verifier: string }>(
      'SELECT code_verifier FROM login_states WHERE handle = $1',
      [state],
    );
    remember('PKCE verifier', rows[0]?.code_verifier);
    const callback = await loginWithDevIdp(authorize.toString(), account);
    remember('authorization code', new URL(callback).searchParams.get('code'));
    const cb = new URL(callback);
    const done = await call(`${cb.pathname}${cb.search}${extra ? `&${extra}` : ''}`, { headers: { cookie } });
    await done.arrayBuffer();
    const location = done.headers.get('location') ?? '';
    if (location.includes('nonce=')) remember('portal nonce', new URL(location).searchParams.get('nonce'));
    return { status: done.status, location, authorize };
  }

  beforeAll(async () => {
    realProcess.on('unhandledRejection', onUnhandled);
    const usersFile = path.join(mkdtempSync(path.join(tmpdir(), 'hostile-users-')), 'users.json');
    writeFileSync(
      usersFile,
      JSON.stringify([
        {
          sub: 'mallory',
          email: 'mallory@evil.example',
          email_verified: true,
          name: 'Mallory',
          given_name: 'M',
          family_name: 'M',
          organization_id: 'evil-org',
          organization_name: HOSTILE_DEVELOPER,
        },
      ]),
    );
    stack = await startStack({
      profileIds: ['guide', 'nofail'],
      idpEnv: { DEV_IDP_USERS_FILE: usersFile },
      env: { BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '0', BROKER_BODY_LIMIT_BYTES: String(BODY_LIMIT) },
    });
    // The IdP's tokens are seen only by the broker: every IdP call goes through its IdpHttpClient,
    // so a wrapper around that one method sees every token response.
    const idpClient = stack.broker.app.get(IdpHttpClient);
    const send = idpClient.request.bind(idpClient);
    idpClient.request = async (options) => {
      const res = await send(options);
      if (res.body.includes('access_token')) {
        try {
          const body = JSON.parse(res.body) as Record<string, unknown>;
          for (const k of ['access_token', 'id_token', 'refresh_token']) {
            if (typeof body[k] === 'string') remember(k, body[k]);
          }
        } catch {
          // not JSON: nothing to remember
        }
      }
      return res;
    };
    await putProfile(stack, guideProfile(stack, 'guide'));
    const noFail = guideProfile(stack, 'nofail');
    delete (noFail.ProviderConfig as Record<string, unknown>).FailureRedirect;
    await putProfile(stack, noFail);
    sql = new pg.Client({ connectionString: stack.db.url });
    await sql.connect();
    const first = await fullLogin('alice');
    expect(first.location.startsWith(`${returnUrl()}?nonce=`)).toBe(true);
    const list = (await (await admin('/api/developers?email=alice@acme.example')).json()) as { data: { id: string }[] };
    developerId = list.data[0].id;
  });

  afterAll(async () => {
    realProcess.off('unhandledRejection', onUnhandled);
    await new Promise<void>((resolve) => (tlsIdp ? tlsIdp.close(() => resolve()) : resolve()));
    await secure?.close();
    await limits?.close();
    await sql?.end();
    await stack?.stop();
  });

  describe('property-based fuzzing (fast-check, fixed seed)', () => {
    it('should notice an unhandled rejection when there is one (the hook the properties rely on works)', async () => {
      expect(realProcess.listeners('unhandledRejection')).toContain(onUnhandled);
      // Jest fails the running test on an unhandled rejection: its listeners step aside for the probe.
      const others = realProcess.listeners('unhandledRejection').filter((l) => l !== onUnhandled);
      for (const l of others) realProcess.off('unhandledRejection', l as (...args: unknown[]) => void);
      const before = unhandled.length;
      try {
        void Promise.reject(new Error('probe'));
        await sleep(20);
      } finally {
        for (const l of others) realProcess.on('unhandledRejection', l as (...args: unknown[]) => void);
      }
      expect(unhandled.length).toBe(before + 1);
      unhandled.pop();
    });

    it('should never answer the callback with a 5xx, whatever its query string, profile or provider', async () => {
      const segment = fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.constantFrom('guide', 'nofail', 'openid-connect', '..', '%2e%2e'),
      );
      const target = fc.oneof(
        { weight: 4, arbitrary: fc.constant('guide/openid-connect') },
        { weight: 1, arbitrary: fc.constant('nofail/openid-connect') },
        { weight: 1, arbitrary: fc.tuple(segment, segment).map(([a, b]) => `${pct(a) || 'x'}/${pct(b) || 'y'}`) },
      );
      const query = queryOf(CALLBACK_KEYS);
      await fc.assert(
        fc.asyncProperty(target, query, fc.constantFrom('GET', 'POST'), async (t, q, method) => {
          const res = await call(`/auth/${t}/callback?${q}`, { method });
          await res.arrayBuffer();
          expect(res.status).toBeLessThan(500);
          if (t === 'guide/openid-connect') {
            expect(res.status).toBe(302);
            expect(res.headers.get('location')?.startsWith(`${failureRedirect()}&error=`)).toBe(true);
          }
        }),
        { seed: SEED, numRuns: 400 },
      );
      expect(unhandled).toEqual([]);
    });

    it('should never answer the audit API with a 5xx, whatever its query parameters', async () => {
      const route = fc.constantFrom('/api/audit/events', '/api/audit/export', '/api/audit/verify');
      const query = queryOf(AUDIT_KEYS);
      await fc.assert(
        fc.asyncProperty(route, query, async (r, q) => {
          const res = await admin(`${r}?${q}`);
          await res.arrayBuffer();
          expect(res.status).toBeLessThan(500);
          expect([200, 400]).toContain(res.status);
        }),
        { seed: SEED, numRuns: 250 },
      );
      expect(unhandled).toEqual([]);
    });

    it('should never answer the developers API with a 5xx, whatever its query parameters', async () => {
      const route = fc.constantFrom('/api/developers', `/api/developers/{id}/logins`);
      const query = queryOf(DEVELOPER_KEYS);
      await fc.assert(
        fc.asyncProperty(route, query, async (r, q) => {
          const res = await admin(`${r.replace('{id}', developerId)}?${q}`);
          await res.arrayBuffer();
          expect([200, 400]).toContain(res.status);
        }),
        { seed: SEED, numRuns: 150 },
      );
      expect(unhandled).toEqual([]);
    });

    it('should answer any developer id with 400 or 404, never a 5xx, and change no developer', async () => {
      // A path segment of only dots would be normalised away by the URL (to the list route).
      const id = fc
        .oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.uuid(), fc.constantFrom(...NASTY))
        .filter((s) => s !== '' && !/^\.{1,2}$/.test(s));
      const method = fc.constantFrom('GET', 'PATCH', 'DELETE');
      const { rows: before } = await sql.query('SELECT id, status, email FROM developers ORDER BY id');
      await fc.assert(
        fc.asyncProperty(id, method, async (raw, m) => {
          const res = await admin(`/api/developers/${pct(raw)}`, {
            method: m,
            ...(m === 'PATCH'
              ? { body: JSON.stringify({ status: 'blocked' }), headers: { 'Content-Type': 'application/json' } }
              : {}),
          });
          await res.arrayBuffer();
          expect([400, 404]).toContain(res.status);
        }),
        { seed: SEED, numRuns: 150 },
      );
      const { rows: after } = await sql.query('SELECT id, status, email FROM developers ORDER BY id');
      expect(after).toEqual(before);
      expect(unhandled).toEqual([]);
    });

    it('should answer any profile body with 201 or 400, never a 5xx, and store only profiles it would accept again', async () => {
      const base = guideProfile(stack, 'fz');
      const fields = [
        'Name',
        'OrgID',
        'ActionType',
        'ProviderName',
        'ReturnURL',
        'Type',
        'DefaultUserGroupID',
        'CustomEmailField',
        'CustomUserIDField',
        'UserGroupMapping',
        'IdentityHandlerConfig',
        'ProviderConfig',
        'ProviderConstraints',
        'SSOOnlyForRegisteredUsers',
        'ProviderConfig.FailureRedirect',
        'ProviderConfig.CallbackBaseURL',
        'ProviderConfig.UseProviders',
        'ProviderConfig.UseProviders.0.Name',
        'ProviderConfig.UseProviders.0.DiscoverURL',
        'ProviderConfig.UseProviders.0.Key',
        'ProviderConfig.UseProviders.0.Scopes',
        'ProviderConfig.UseProviders.0.TokenEndpointAuthMethod',
        'IdentityHandlerConfig.OrganisationSync',
        'IdentityHandlerConfig.DashboardCredential',
      ];
      const mutation = fc.record({
        field: fc.oneof(fc.constantFrom(...fields), fc.string({ maxLength: 12 })),
        value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...NASTY), fc.webUrl(), fc.constant(undefined)),
      });
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
          const id = `fz${n++}`;
          const doc = structuredClone({ ...base, ID: id }) as Record<string, unknown>;
          for (const { field, value: v } of mutations) {
            const keys = field.split('.');
            let node: unknown = doc;
            for (const k of keys.slice(0, -1)) {
              node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[k] : undefined;
            }
            if (node === null || typeof node !== 'object') continue;
            const last = keys[keys.length - 1];
            if (v === undefined) delete (node as Record<string, unknown>)[last];
            else (node as Record<string, unknown>)[last] = v;
          }
          const res = await admin(`/api/profiles/${id}`, {
            method: 'POST',
            body: JSON.stringify(doc),
            headers: { 'Content-Type': 'application/json' },
          });
          await res.arrayBuffer();
          expect([201, 400]).toContain(res.status);
        }),
        { seed: SEED, numRuns: 150 },
      );
      // Whatever got stored must pass validation again, unchanged.
      const stored = (await (await admin('/api/profiles')).json()) as { Data: Record<string, unknown>[] };
      const fuzzed = stored.Data.filter((p) => String(p.ID).startsWith('fz'));
      expect(fuzzed.length).toBeGreaterThan(0);
      for (const p of fuzzed) {
        const again = await admin(`/api/profiles/${String(p.ID)}`, {
          method: 'PUT',
          body: JSON.stringify(p),
          headers: { 'Content-Type': 'application/json' },
        });
        expect({ id: p.ID, status: again.status, body: again.status === 200 ? '' : await again.text() }).toEqual({
          id: p.ID,
          status: 200,
          body: '',
        });
      }
      expect(unhandled).toEqual([]);
    });
  });

  describe('bodies', () => {
    it('should answer malformed JSON with 400', async () => {
      const patch = await admin(`/api/developers/${developerId}`, {
        method: 'PATCH',
        body: '{"status":',
        headers: { 'Content-Type': 'application/json' },
      });
      expect(patch.status).toBe(400);
      expect(((await patch.json()) as { error: { code: string } }).error.code).toBe('bad_request');
      const profile = await admin('/api/profiles/broken', {
        method: 'POST',
        body: '{"ID": "broken",',
        headers: { 'Content-Type': 'application/json' },
      });
      expect(profile.status).toBe(400);
      expect(await profile.json()).toEqual({ Status: 'error', Error: 'Failed to decode body data' });
    });

    it('should answer a body over BROKER_BODY_LIMIT_BYTES with 413, on JSON routes and on /api/profiles', async () => {
      const big = JSON.stringify({ status: 'blocked', pad: 'x'.repeat(BODY_LIMIT) });
      const patch = await admin(`/api/developers/${developerId}`, {
        method: 'PATCH',
        body: big,
        headers: { 'Content-Type': 'application/json' },
      });
      expect(patch.status).toBe(413);
      expect(((await patch.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
      const profile = await admin('/api/profiles/big', {
        method: 'POST',
        body: JSON.stringify({ ...guideProfile(stack, 'big'), Name: 'x'.repeat(BODY_LIMIT) }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(profile.status).toBe(413);
      expect(((await profile.json()) as { Status: string }).Status).toBe('error');
      expect((await admin('/api/profiles/big')).status).toBe(404);
      const { rows } = await sql.query<{ status: string }>('SELECT status FROM developers WHERE id = $1', [
        developerId,
      ]);
      expect(rows[0].status).toBe('active');
    });

    it('should answer a JSON route sent text/plain with 415', async () => {
      const res = await admin(`/api/developers/${developerId}`, {
        method: 'PATCH',
        body: JSON.stringify({ status: 'blocked' }),
        headers: { 'Content-Type': 'text/plain' },
      });
      expect(res.status).toBe(415);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    });
  });

  describe('SQL- and HTML-looking strings', () => {
    it('should answer a NUL in an id or filter (which Postgres text cannot hold) as the client error it is', async () => {
      for (const [path, method, status] of [
        ['/api/profiles/a%00b', 'GET', 404],
        ['/api/profiles/a%00b', 'DELETE', 404],
        ['/api/developers?email=a%00', 'GET', 400],
        ['/api/audit/events?q=%00', 'GET', 400],
        ['/api/audit/export?format=ndjson&q=a%00', 'GET', 400],
        ['/api/audit/export?format=csv&profile=p%00', 'GET', 400],
      ] as const) {
        const res = await admin(path, { method });
        await res.arrayBuffer();
        expect([method, path, res.status]).toEqual([method, path, status]);
      }
    });

    it('should store and return a hostile profile Name verbatim, and render it escaped on the landing page', async () => {
      const created = await admin('/api/profiles/hostile', {
        method: 'POST',
        body: JSON.stringify(
          guideProfile(stack, 'hostile', { Name: HOSTILE_NAME, CustomEmailField: "email' OR 1=1 --" }),
        ),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(created.status).toBe(201);
      const got = (await (await admin('/api/profiles/hostile')).json()) as {
        Data: { Name: string; CustomEmailField: string };
      };
      expect(got.Data.Name).toBe(HOSTILE_NAME);
      expect(got.Data.CustomEmailField).toBe("email' OR 1=1 --");
      const listed = (await (await admin('/api/profiles')).json()) as { Data: { ID: string; Name: string }[] };
      expect(listed.Data.find((p) => p.ID === 'hostile')?.Name).toBe(HOSTILE_NAME);

      const home = await call('/');
      expect(home.status).toBe(200);
      const html = await home.text();
      expect(html).toContain('&#39;; DROP TABLE profiles; --&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(html).not.toContain('<script>alert(1)');
      expect(html).not.toContain('<script');
    });

    it('should render IdP-supplied text escaped on the error page', async () => {
      const res = await call(
        `/auth/nofail/openid-connect/callback?error=${pct('<script>alert(1)</script>')}&error_description=${pct('<b>x</b>')}`,
      );
      const html = await res.text();
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(html).not.toContain('<script');
      expect(html).not.toContain('<b>x');
    });

    it('should store and return a hostile organisation name from the IdP verbatim, and find nothing with SQL in filters', async () => {
      const { location } = await fullLogin('mallory');
      expect(location.startsWith(`${returnUrl()}?nonce=`)).toBe(true);
      const found = (await (await admin('/api/developers?email=mallory@evil.example')).json()) as {
        data: { organisation_name: string }[];
      };
      expect(found.data.map((d) => d.organisation_name)).toEqual([HOSTILE_DEVELOPER]);
      const injected = await admin(`/api/developers?email=${pct("' OR '1'='1")}`);
      expect(injected.status).toBe(200);
      expect(((await injected.json()) as { data: unknown[] }).data).toEqual([]);
      const audit = await admin(`/api/audit/events?q=${pct("'; DROP TABLE audit_events; --")}`);
      expect(audit.status).toBe(200);
      const { rows } = await sql.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('profiles', 'developers', 'audit_events')",
      );
      expect(rows[0].n).toBe(3);
    });
  });

  describe('open redirect', () => {
    const names = [
      'redirect_uri',
      'ReturnURL',
      'return_to',
      'returnTo',
      'next',
      'url',
      'redirect',
      'continue',
      'FailureRedirect',
      'callback',
      'RelayState',
      'target',
    ];
    const evil = fc.oneof(
      fc.webUrl(),
      fc.constantFrom(
        'https://evil.example/',
        '//evil.example/x',
        '/\\evil.example',
        'javascript:alert(1)',
        'https://evil.example@127.0.0.1/',
        'http://127.0.0.1:1/',
      ),
    );
    const extras = fc
      .array(fc.tuple(fc.constantFrom(...names), evil), { minLength: 1, maxLength: 4 })
      .map((ps) => ps.map(([k, v]) => `${k}=${pct(v)}`).join('&'));
    const headers = fc.record(
      {
        'X-Forwarded-Host': fc.constant('evil.example'),
        'X-Forwarded-Proto': fc.constantFrom('https', 'javascript'),
        Referer: fc.constant('https://evil.example/'),
      },
      { requiredKeys: [] },
    );

    it("should send the start only to the IdP from discovery, with the profile's own callback, whatever parameters are added", async () => {
      const idpOrigin = new URL(stack.idp.issuer).origin;
      const callback = `http://127.0.0.1:${stack.brokerPort}/auth/guide/openid-connect/callback`;
      await fc.assert(
        fc.asyncProperty(extras, headers, async (q, h) => {
          const res = await call(`/auth/guide/openid-connect?${q}`, { headers: h });
          await res.arrayBuffer();
          expect(res.status).toBe(307);
          const location = new URL(res.headers.get('location') ?? '');
          expect(location.origin).toBe(idpOrigin);
          expect(location.searchParams.get('redirect_uri')).toBe(callback);
          expect([...location.searchParams.keys()].sort()).toEqual(
            [
              'client_id',
              'code_challenge',
              'code_challenge_method',
              'nonce',
              'redirect_uri',
              'response_type',
              'scope',
              'state',
            ].sort(),
          );
        }),
        { seed: SEED, numRuns: 60 },
      );
    });

    it('should end a failed callback only at FailureRedirect, whatever parameters are added', async () => {
      await fc.assert(
        fc.asyncProperty(extras, headers, async (q, h) => {
          const res = await call(`/auth/guide/openid-connect/callback?${q}`, { headers: h });
          await res.arrayBuffer();
          expect(res.status).toBe(302);
          expect(res.headers.get('location')?.startsWith(`${failureRedirect()}&error=`)).toBe(true);
        }),
        { seed: SEED, numRuns: 60 },
      );
    });

    it('should end a successful login only at ReturnURL, whatever parameters are added to start and callback', async () => {
      const extra = names.map((n) => `${n}=${pct('https://evil.example/steal')}`).join('&');
      for (const account of ['alice', 'bob']) {
        const { status, location } = await fullLogin(account, extra);
        expect(status).toBe(302);
        expect(location.startsWith(`${returnUrl()}?nonce=`)).toBe(true);
        expect(location).not.toContain('evil');
      }
    });

    it('should never have answered with a Location outside the IdP, ReturnURL and FailureRedirect (every request of this suite)', () => {
      const allowed = new Set([
        new URL(stack.idp.issuer).origin,
        new URL(returnUrl()).origin,
        new URL(failureRedirect()).origin,
      ]);
      expect(locations.length).toBeGreaterThan(300);
      const outside = locations.filter((l) => !allowed.has(new URL(l, 'http://relative.invalid').origin));
      expect(outside).toEqual([]);
    });
  });

  describe('rate limits (a broker with BROKER_RATE_LIMIT_LOGIN_PER_MINUTE=5, BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE=3)', () => {
    beforeAll(async () => {
      limits = await startTestBroker(
        testConfig({
          DATABASE_URL: stack.db.url,
          TYK_IB_SECRET: ADMIN_SECRET,
          TYK_LOGLEVEL: 'debug',
          BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '5',
          BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '3',
        }),
      );
    });

    it('should answer the 6th login start from one IP within a minute with 429 and Retry-After, and count other IPs apart', async () => {
      const url = `${limits!.url}/auth/guide/openid-connect`;
      for (let i = 0; i < 5; i++) {
        const res = await fetch(url, { redirect: 'manual' });
        expect(res.status).toBe(307);
      }
      const sixth = await fetch(url, { redirect: 'manual' });
      expect(sixth.status).toBe(429);
      const retryAfter = Number(sixth.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(((await sixth.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
      // The callback is a login route too.
      expect((await fetch(`${url}/callback?state=x&code=y`, { redirect: 'manual' })).status).toBe(429);
      // Behind a trusted proxy (loopback), the client IP is the forwarded one: counted on its own.
      const other = await fetch(url, { redirect: 'manual', headers: { 'X-Forwarded-For': '203.0.113.50' } });
      expect(other.status).toBe(307);
    });

    it('should answer the 4th failed admin authentication with 429 and Retry-After, and still let the right secret in from that IP', async () => {
      const url = `${limits!.url}/api/profiles`;
      const ip = { 'X-Forwarded-For': '198.51.100.7' };
      for (let i = 0; i < 3; i++) {
        expect((await fetch(url, { headers: { ...ip, Authorization: `wrong-${i}` } })).status).toBe(401);
      }
      const fourth = await fetch(url, { headers: { ...ip, Authorization: 'wrong-3' } });
      expect(fourth.status).toBe(429);
      const retryAfter = Number(fourth.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Valid credentials are never refused by the throttle (issue 13: no lock-out of the admin).
      const good = await fetch(url, { headers: { ...ip, Authorization: ADMIN_SECRET } });
      expect(good.status).toBe(200);
      expect((await fetch(url, { headers: { ...ip, Authorization: 'wrong-4' } })).status).toBe(429);
      // Another client is not affected.
      const elsewhere = await fetch(url, {
        headers: { 'X-Forwarded-For': '198.51.100.8', Authorization: ADMIN_SECRET },
      });
      expect(elsewhere.status).toBe(200);
    });
  });

  describe('cookies and TLS', () => {
    let tls: { certFile: string; keyFile: string; cert: string };
    let tlsIssuer: string;

    beforeAll(async () => {
      expect(existsSync('/usr/bin/openssl')).toBe(true);
      tls = selfSignedCert();
      // An IdP on HTTPS with a certificate nobody trusts: only SSLInsecureSkipVerify may reach it.
      tlsIdp = https.createServer({ cert: tls.cert, key: readFileSync(tls.keyFile) }, (req, res) => {
        const doc = {
          issuer: tlsIssuer,
          authorization_endpoint: `${tlsIssuer}/authorize`,
          token_endpoint: `${tlsIssuer}/token`,
          jwks_uri: `${tlsIssuer}/jwks`,
          response_types_supported: ['code'],
          id_token_signing_alg_values_supported: ['ES256'],
        };
        res.writeHead(req.url === '/tls/.well-known/openid-configuration' ? 200 : 404, {
          'content-type': 'application/json',
        });
        res.end(JSON.stringify(doc));
      });
      await new Promise<void>((resolve) => tlsIdp!.listen(0, '127.0.0.1', resolve));
      tlsIssuer = `https://127.0.0.1:${(tlsIdp.address() as AddressInfo).port}/tls`;
      const profile = guideProfile(stack, 'tls');
      const provider = (profile.ProviderConfig as { UseProviders: Record<string, unknown>[] }).UseProviders[0];
      provider.DiscoverURL = `${tlsIssuer}/.well-known/openid-configuration`;
      await putProfile(stack, profile);
      secure = await startTestBroker(
        testConfig({
          DATABASE_URL: stack.db.url,
          TYK_IB_SECRET: ADMIN_SECRET,
          TYK_LOGLEVEL: 'debug',
          TYK_IB_HTTPSERVEROPTIONS_USESSL: 'true',
          TYK_IB_HTTPSERVEROPTIONS_CERTFILE: tls.certFile,
          TYK_IB_HTTPSERVEROPTIONS_KEYFILE: tls.keyFile,
          TYK_IB_SSLINSECURESKIPVERIFY: 'true',
        }),
      );
    });

    it('should set the login cookie HttpOnly, SameSite=Lax, on /, and not Secure over plain HTTP', async () => {
      const res = await call('/auth/guide/openid-connect');
      const cookies = res.headers.getSetCookie();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]).toMatch(/^sso_broker_login=[A-Za-z0-9_-]{32,64};/);
      expect(cookies[0]).toMatch(/; HttpOnly/i);
      expect(cookies[0]).toMatch(/; SameSite=Lax/i);
      expect(cookies[0]).toMatch(/; Path=\/(;|$)/i);
      expect(cookies[0]).not.toMatch(/; Secure/i);
    });

    it('should set the login cookie Secure behind a TLS-terminating proxy (X-Forwarded-Proto: https from a trusted proxy)', async () => {
      const res = await call('/auth/guide/openid-connect', { headers: { 'X-Forwarded-Proto': 'https' } });
      const cookie = res.headers.getSetCookie()[0] ?? '';
      expect(cookie).toMatch(/; Secure/i);
      expect(cookie).toMatch(/; HttpOnly/i);
      expect(cookie).toMatch(/; SameSite=Lax/i);
    });

    it('should serve HTTPS with HttpServerOptions.UseSSL and a self-signed certificate, and set the login cookie Secure', async () => {
      const port = new URL(secure!.url).port;
      const health = await httpsGet(`https://127.0.0.1:${port}/health`, tls.cert);
      expect(health.status).toBe(200);
      const start = await httpsGet(`https://127.0.0.1:${port}/auth/guide/openid-connect`, tls.cert);
      expect(start.status).toBe(307);
      const cookie = ([] as string[]).concat(start.headers['set-cookie'] ?? [])[0] ?? '';
      expect(cookie).toMatch(/^__Host-sso_broker_login=/);
      expect(cookie).toMatch(/; Secure/i);
      expect(cookie).toMatch(/; HttpOnly/i);
      expect(cookie).toMatch(/; SameSite=Lax/i);
      // Plain HTTP on the TLS port is not served.
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    });

    it("should verify the IdP's TLS certificate unless SSLInsecureSkipVerify is set", async () => {
      const verified = await call('/auth/tls/openid-connect');
      expect(verified.status).toBe(302);
      expect(verified.headers.get('location')).toBe(`${failureRedirect()}&error=discovery_failed`);
      const port = new URL(secure!.url).port;
      const skipped = await httpsGet(`https://127.0.0.1:${port}/auth/tls/openid-connect`, tls.cert);
      expect(skipped.status).toBe(307);
      expect(String(skipped.headers.location)).toMatch(new RegExp(`^${tlsIssuer}/authorize\\?`));
    });
  });

  describe('secrets in the logs (TYK_LOGLEVEL=debug)', () => {
    it('should have run at debug level, logged every request, and seen codes, nonces, verifiers and tokens to look for', () => {
      const kinds = new Set(secrets.values());
      for (const kind of [
        'authorization code',
        'nonce',
        'state',
        'PKCE verifier',
        'portal nonce',
        'access_token',
        'id_token',
        'binding cookie',
      ]) {
        expect([kind, kinds.has(kind)]).toEqual([kind, true]);
      }
      // Nothing in the broker logs at debug level today; the level is on, so any that did would be here.
      expect(stack.broker.config.logLevel).toBe('debug');
      expect(stack.broker.logs.lines.filter((l) => l.includes('"msg":"request completed"')).length).toBeGreaterThan(
        500,
      );
    });

    it('should never log a secret value: client, portal and admin secrets, admin token, codes, nonces, verifiers, ID and access tokens', () => {
      const logs = [stack.broker.logs.text(), limits?.logs.text() ?? '', secure?.logs.text() ?? ''].join('\n');
      const values = new Map(secrets);
      for (const [v, kind] of [
        [CLIENT_SECRET, 'client secret'],
        [PORTAL_SECRET, 'portal secret'],
        [ADMIN_SECRET, 'admin secret'],
        [PORTAL_TOKEN, 'portal admin token'],
      ] as const) {
        values.set(v, kind);
      }
      const leaked = [...values].filter(([v]) => logs.includes(v)).map(([v, kind]) => `${kind}: ${v.slice(0, 6)}…`);
      expect(leaked).toEqual([]);
      expect(values.size).toBeGreaterThan(20);
      expect(unhandled).toEqual([]);
    });
  });
});
