import { jest } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { CookieJar, loginWithDevIdp } from '@test/support/dev-idp.js';
import { startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';
import {
  ADMIN_SECRET,
  CLIENT_SECRET,
  PORTAL_SECRET,
  PORTAL_TOKEN,
  guideProfile,
  hop,
  putProfile,
  startStack,
  type Stack,
} from '@test/support/stack.js';

const usersFile = path.join(mkdtempSync(path.join(tmpdir(), 'idp-users-')), 'users.json');
const mover = (org: string, orgName: string) => [
  {
    sub: 'mover',
    email: 'mover@example.com',
    email_verified: true,
    name: 'Morgan Mover',
    given_name: 'Morgan',
    family_name: 'Mover',
    organization_id: org,
    organization_name: orgName,
    groups: ['developers'],
  },
  // Its `name` looks like an email: a profile with CustomEmailField "name" reads it as the email.
  { sub: 'custom', email: 'custom@example.com', email_verified: true, name: 'custom.alt@example.com' },
  // The IdP vouches for `name` (a directory attribute, CustomEmailField); `email` is self-asserted,
  // unverified and someone else's address (review finding 1).
  { sub: 'mallory', email: 'victim@partner.example', email_verified: false, name: 'mallory@corp.example' },
];

describe('developer login through the dev IdP into the portal emulator (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;
  /** A second IdP (profile `idpb`) whose admin can issue any `sub`. */
  let idpB: FakeIdp;

  const admin = (p: string, init: RequestInit = {}) =>
    fetch(`${stack.broker.url}${p}`, {
      ...init,
      headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json', ...(init.headers as object) },
    });

  /** start → IdP (account picked) → broker callback; returns the broker's answer to the callback. */
  async function login(profileId: string, account: string) {
    const start = await hop(`${stack.broker.url}/auth/${profileId}/openid-connect`);
    expect(start.status).toBe(307);
    const setCookie = start.res.headers.getSetCookie().find((c) => c.startsWith('sso_broker_login='))!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    const cookie = setCookie.split(';')[0];
    const callback = await loginWithDevIdp(start.location, account);
    return { callbackUrl: callback, cookie, ...(await hop(callback, { headers: { cookie } })) };
  }

  /** Follows the portal hand-off and returns the portal page a signed-in browser sees. */
  async function portalPage(location: string): Promise<string> {
    const jar = new CookieJar();
    const sso = await fetch(location, { redirect: 'manual' });
    expect(sso.status).toBe(302);
    jar.store(sso);
    const homeUrl = new URL(sso.headers.get('location') ?? '/', location).toString();
    const home = await fetch(homeUrl, { headers: { cookie: jar.header(homeUrl) } });
    return home.text();
  }

  beforeAll(async () => {
    writeFileSync(usersFile, JSON.stringify(mover('acme', 'Acme Corp')));
    stack = await startStack({
      profileIds: ['guide', 'sync', 'nofail', 'customemail', 'upnreg', 'upnrole', 'idpb'],
      idpEnv: { DEV_IDP_USERS_FILE: usersFile },
    });
    await putProfile(stack, guideProfile(stack, 'guide'));
    await putProfile(
      stack,
      guideProfile(stack, 'sync', {
        IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET, OrganisationSync: { Enabled: true } },
      }),
    );
    const noFail = guideProfile(stack, 'nofail');
    delete (noFail.ProviderConfig as Record<string, unknown>).FailureRedirect;
    await putProfile(stack, noFail);
    const customEmail = guideProfile(stack, 'customemail', { CustomEmailField: 'name' });
    const customConfig = customEmail.ProviderConfig as {
      FailureRedirect?: string;
      UseProviders: { Scopes: string[] }[];
    };
    delete customConfig.FailureRedirect;
    customConfig.UseProviders[0].Scopes = ['openid', 'email', 'profile'];
    await putProfile(stack, customEmail);
    // CustomEmailField on a claim the IdP controls, accepted unverified, pinned to corp.example.
    const upn = (id: string, over: Record<string, unknown>) => {
      const profile = guideProfile(stack, id, {
        CustomEmailField: 'name',
        ProviderConstraints: { Domain: 'corp.example' },
        ...over,
      });
      const config = profile.ProviderConfig as Record<string, unknown> & { UseProviders: { Scopes: string[] }[] };
      config.AllowUnverifiedEmail = true;
      config.UseProviders[0].Scopes = ['openid', 'email', 'profile'];
      return profile;
    };
    await putProfile(stack, upn('upnreg', { SSOOnlyForRegisteredUsers: true }));
    await putProfile(
      stack,
      upn('upnrole', {
        IdentityHandlerConfig: {
          DashboardCredential: PORTAL_SECRET,
          OrganisationSync: { DefaultRole: 'consumer-team-member' },
        },
      }),
    );
    idpB = await startFakeIdp();
    const b = guideProfile(stack, 'idpb');
    const bConfig = b.ProviderConfig as Record<string, unknown> & { UseProviders: Record<string, unknown>[] };
    bConfig.UseProviders = [
      { ...bConfig.UseProviders[0], DiscoverURL: idpB.discoverUrl, Key: idpB.clientId, Secret: idpB.clientSecret },
    ];
    await putProfile(stack, b);
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await idpB?.stop();
    await stack?.stop();
  });

  it('should sign a developer in end to end with the integration guide profile', async () => {
    const { status, location } = await login('guide', 'alice');
    expect(status).toBe(302);
    expect(location).toMatch(new RegExp(`^${stack.portal.url}/sso\\?nonce=`));
    const page = await portalPage(location);
    expect(page).toContain('alice@acme.example');
    const { rows } = await db.query<{ email: string; login_count: number; status: string }>(
      "SELECT email, login_count, status FROM developers WHERE subject = 'alice'",
    );
    expect(rows).toEqual([{ email: 'alice@acme.example', login_count: 1, status: 'active' }]);
    const events = await db.query<{ type: string; outcome: string }>(
      "SELECT type, outcome FROM audit_events WHERE type LIKE 'login.%'",
    );
    expect(events.rows).toContainEqual({ type: 'login.succeeded', outcome: 'success' });
  });

  it("should send the portal exactly TIB's SSO call for the developer action", () => {
    const sso = stack.portal.requests.filter((r) => r.path === '/api/sso');
    expect(sso.length).toBeGreaterThan(0);
    const last = sso[sso.length - 1];
    expect(last.headers.authorization).toBe(PORTAL_SECRET);
    expect(Object.keys(last.body as object)).toEqual([
      'ForSection',
      'OrgID',
      'EmailAddress',
      'DisplayName',
      'GroupID',
      'GroupsIDs',
      'SSOOnlyForRegisteredUsers',
    ]);
    expect(last.body).toMatchObject({
      ForSection: 'portal',
      OrgID: '0',
      EmailAddress: 'alice@acme.example',
      GroupID: '1',
      GroupsIDs: ['1'],
    });
  });

  it("should answer 404 in TIB's error envelope for an unknown profile (TIB start: empty 200)", async () => {
    for (const p of ['/auth/nope/openid-connect', '/auth/nope/openid-connect/callback']) {
      const res = await fetch(`${stack.broker.url}${p}`, { redirect: 'manual' });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({ Status: 'error', Error: 'Profile nope not found' });
    }
  });

  it("should answer an unknown provider name on the start route as TIB does: 400 JSON with goth's text, byte for byte", async () => {
    // TIB: tothic.BeginAuthHandler → TothErrorHandler(…, err.Error(), err, 400, …) with goth's
    // `no provider for %s exists`, written by Go's json.Marshal (HTML characters escaped).
    for (const [segment, body] of [
      ['github', '{"Status":"error","Error":"no provider for github exists"}'],
      ['OpenID-Connect', '{"Status":"error","Error":"no provider for OpenID-Connect exists"}'],
      ['a%3Cb%3E%26c', '{"Status":"error","Error":"no provider for a\\u003cb\\u003e\\u0026c exists"}'],
    ]) {
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${stack.broker.url}/auth/guide/${segment}`, { method, redirect: 'manual' });
        expect({ method, segment, status: res.status }).toEqual({ method, segment, status: 400 });
        expect(res.headers.get('content-type')).toBe('application/json');
        expect(res.headers.get('location')).toBeNull();
        expect(await res.text()).toBe(body);
      }
    }
  });

  it('should start a login from a form-encoded POST, as TIB accepts any method and body on its login routes', async () => {
    const res = await fetch(`${stack.broker.url}/auth/guide/openid-connect`, {
      method: 'POST',
      redirect: 'manual',
      body: 'state=from-a-form',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    // 303, not TIB's 307: the browser asks the IdP with a GET and does not re-send the form there.
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(new RegExp(`^${stack.idp.issuer}/`));
    // Which the browser follows with a GET, and the login completes.
    const cookie = res.headers
      .getSetCookie()
      .find((c) => c.startsWith('sso_broker_login='))!
      .split(';')[0];
    const done = await hop(await loginWithDevIdp(res.headers.get('location')!, 'alice'), { headers: { cookie } });
    expect(done.location).toMatch(new RegExp(`^${stack.portal.url}/sso\\?nonce=`));
    const unknown = await fetch(`${stack.broker.url}/auth/nope/openid-connect`, {
      method: 'POST',
      body: 'a=b',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ Status: 'error', Error: 'Profile nope not found' });
  });

  it('should start a login whatever JSON body a POST carries: the login routes never parse one, as TIB', async () => {
    for (const body of ['{not json', JSON.stringify({ state: 'x' }), 'x'.repeat(200_000)]) {
      const res = await fetch(`${stack.broker.url}/auth/guide/openid-connect`, {
        method: 'POST',
        redirect: 'manual',
        body,
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toMatch(new RegExp(`^${stack.idp.issuer}/`));
    }
    // Elsewhere a malformed JSON body is still the client's mistake.
    const admin = await fetch(`${stack.broker.url}/api/developers/00000000-0000-4000-8000-000000000000/block`, {
      method: 'POST',
      body: '{not json',
      headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' },
    });
    expect(admin.status).toBe(400);
  });

  it('should log each login request once, under the request id the caller sent, with the code and state redacted', async () => {
    const res = await fetch(`${stack.broker.url}/auth/guide/openid-connect/callback?code=LOGCODE-123456&state=abc`, {
      redirect: 'manual',
      headers: { 'x-request-id': 'login-log-1' },
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('x-request-id')).toBe('login-log-1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = stack.broker.logs.lines.filter((l) => l.includes('"reqId":"login-log-1"'));
    const completed = lines.filter((l) => l.includes('"msg":"request completed"'));
    expect(completed).toHaveLength(1);
    expect(completed[0]).toContain(
      '"url":"/auth/guide/openid-connect/callback?code=%5BRedacted%5D&state=%5BRedacted%5D"',
    );
    expect(completed[0]).toContain('"statusCode":302');
    expect(stack.broker.logs.text()).not.toContain('LOGCODE-123456');
  });

  it('should log admin requests with pino-http and serve every request without AsyncLocalStorage (issue 19)', async () => {
    // On Node 20 one AsyncLocalStorage.run() turns promise hooks on for the whole process, for good.
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const run = jest.spyOn(AsyncLocalStorage.prototype, 'run');
    const enterWith = jest.spyOn(AsyncLocalStorage.prototype, 'enterWith');
    try {
      const listed = await admin('/api/profiles', { headers: { 'x-request-id': 'admin-log-1' } });
      expect(listed.status).toBe(200);
      expect(listed.headers.get('x-request-id')).toBe('admin-log-1');
      const first = await login('guide', 'bob');
      expect(first.location).toContain('/sso?nonce=');
      expect(run).not.toHaveBeenCalled();
      expect(enterWith).not.toHaveBeenCalled();
    } finally {
      run.mockRestore();
      enterWith.mockRestore();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const completed = stack.broker.logs.lines.filter(
      (l) => l.includes('"reqId":"admin-log-1"') && l.includes('"msg":"request completed"'),
    );
    expect(completed).toHaveLength(1);
    expect(completed[0]).toContain('"url":"/api/profiles"');
    expect(completed[0]).not.toContain(ADMIN_SECRET);
  });

  it('should refuse a replayed callback with state_invalid at the FailureRedirect, and audit it', async () => {
    const first = await login('guide', 'bob');
    expect(first.location).toContain('/sso?nonce=');
    const replay = await hop(first.callbackUrl, { headers: { cookie: first.cookie } });
    expect(replay.status).toBe(302);
    expect(replay.location).toBe(`${stack.portal.url}/?fail=true&error=state_invalid`);
    const { rows } = await db.query(
      "SELECT reason FROM audit_events WHERE type = 'login.failed' AND reason = 'state_invalid'",
    );
    expect(rows.length).toBeGreaterThan(0);
  });

  it('should refuse a callback finished by another browser (login CSRF) with state_invalid', async () => {
    const start = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
    const callback = await loginWithDevIdp(start.location, 'bob');
    const victim = await hop(callback, {
      headers: { cookie: 'sso_broker_login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    expect(victim.location).toBe(`${stack.portal.url}/?fail=true&error=state_invalid`);
  });

  it('should refuse an unverified email with email_unverified', async () => {
    const { location } = await login('guide', 'dave');
    expect(location).toBe(`${stack.portal.url}/?fail=true&error=email_unverified`);
    const { rowCount } = await db.query("SELECT 1 FROM developers WHERE subject = 'dave'");
    expect(rowCount).toBe(0);
  });

  it('should show the error page with the code and a 4xx when the profile has no FailureRedirect', async () => {
    const { status, res } = await login('nofail', 'dave');
    expect(status).toBe(403);
    const html = await res.text();
    expect(html).toContain('email_unverified');
    expect(html).toContain('<!doctype html>');
    expect(html).not.toMatch(/at [A-Za-z]+ \(/);
  });

  it('should say which setting to change when a TIB profile with CustomEmailField refuses every login', async () => {
    const { status, res, location } = await login('customemail', 'custom');
    expect({ status, location }).toEqual({ status: 403, location: '' });
    const html = await res.text();
    expect(html).toContain('email_unverified');
    expect(html).toMatch(/claim &quot;name&quot; \(CustomEmailField\)/);
    expect(html).toContain('ProviderConfig.AllowUnverifiedEmail');
    const warning = stack.broker.logs.lines.find((l) => l.includes('"setting":"CustomEmailField"'));
    expect(warning).toMatch(/"profileId":"customemail"/);
    expect(warning).toMatch(/remove CustomEmailField from the profile, or set ProviderConfig\.AllowUnverifiedEmail/);
  });

  it("should refuse another IdP's login with a subject whose SSO key a developer already holds, before any portal call (review finding 2)", async () => {
    await login('guide', 'alice');
    const portalCalls = stack.portal.requests.length;
    // IdP B's admin issues sub "alice": the portal SSO key alice@openid-connect.com is alice's.
    idpB.set({ user: { sub: 'alice', email: 'mallory@idp-b.example', email_verified: true } });
    const start = await hop(`${stack.broker.url}/auth/idpb/openid-connect`);
    const cookie = start.res.headers
      .getSetCookie()
      .find((c) => c.startsWith('sso_broker_login='))!
      .split(';')[0];
    const callback = await hop(start.location);
    const { location } = await hop(callback.location, { headers: { cookie } });
    expect(location).toBe(`${stack.portal.url}/?fail=true&error=portal_rejected`);
    expect(stack.portal.requests.length).toBe(portalCalls);
    const { rows } = await db.query<{ issuer: string }>("SELECT issuer FROM developers WHERE subject = 'alice'");
    expect(rows).toEqual([{ issuer: stack.idp.issuer }]);
    const failed = await db.query<{ reason: string; profile_id: string }>(
      "SELECT reason, profile_id FROM audit_events WHERE type = 'login.failed' ORDER BY id DESC LIMIT 1",
    );
    expect(failed.rows).toEqual([{ reason: 'portal_rejected', profile_id: 'idpb' }]);
  });

  describe('CustomEmailField beside an unchecked standard email claim (review finding 1)', () => {
    it("should check SSOOnlyForRegisteredUsers against the checked email, not another person's portal account", async () => {
      stack.portal.state.createUser({ Email: 'victim@partner.example', Role: 'consumer-admin', Active: true });
      const refused = await login('upnreg', 'mallory');
      expect(refused.location).toBe(`${stack.portal.url}/?fail=true&error=developer_not_registered`);
      expect(
        stack.portal.requests.filter((r) => r.path === '/api/sso' && JSON.stringify(r.body).includes('corp.example')),
      ).toEqual([]);
    });

    it("should create, find and re-role only the checked email's portal account, never the standard claim's", async () => {
      const { location } = await login('upnrole', 'mallory');
      expect(location).toContain('/sso?nonce=');
      const state = stack.portal.state;
      expect(state.findUserByEmail('mallory@corp.example')?.Role).toBe('consumer-team-member');
      // The victim's account kept its role and got no SSO link.
      expect(state.findUserByEmail('victim@partner.example')?.Role).toBe('consumer-admin');
      const created = stack.portal.requests.filter((r) => r.method === 'POST' && r.path === '/api/portal/developers');
      expect(created.at(-1)?.body).toMatchObject({ email: 'mallory@corp.example' });
      const { rows } = await db.query<{ email: string; portal_user_id: string }>(
        "SELECT email, portal_user_id FROM developers WHERE subject = 'mallory'",
      );
      expect(rows).toEqual([
        { email: 'mallory@corp.example', portal_user_id: String(state.findUserByEmail('mallory@corp.example')!.ID) },
      ]);
    });
  });

  it('should refuse a blocked developer with developer_blocked, and let them in again once unblocked', async () => {
    await login('guide', 'carol');
    const list = (await (await admin('/api/developers?email=carol@globex.example')).json()) as {
      data: { id: string }[];
    };
    const id = list.data[0].id;
    expect(
      (await admin(`/api/developers/${id}`, { method: 'PATCH', body: JSON.stringify({ status: 'blocked' }) })).status,
    ).toBe(200);
    const blocked = await login('guide', 'carol');
    expect(blocked.location).toBe(`${stack.portal.url}/?fail=true&error=developer_blocked`);
    expect(
      (await admin(`/api/developers/${id}`, { method: 'PATCH', body: JSON.stringify({ status: 'active' }) })).status,
    ).toBe(200);
    expect((await login('guide', 'carol')).location).toContain('/sso?nonce=');
  });

  it('should put a developer in the portal organisation of their Cloudentity organisation, and move them when it changes', async () => {
    const first = await login('sync', 'mover');
    expect(first.location).toContain('/sso?nonce=');
    const page = await portalPage(first.location);
    expect(page).toContain('Acme Corp');
    writeFileSync(usersFile, JSON.stringify(mover('initech', 'Initech')));
    const second = await login('sync', 'mover');
    expect(second.location).toContain('/sso?nonce=');
    const moved = await portalPage(second.location);
    expect(moved).toContain('Initech');
    expect(moved).not.toContain('Acme Corp');
    const { rows } = await db.query<{ type: string }>(
      "SELECT type FROM audit_events WHERE type LIKE 'portal.%' ORDER BY id",
    );
    expect(rows.map((r) => r.type)).toEqual(
      expect.arrayContaining(['portal.organisation_created', 'portal.developer_moved']),
    );
  });

  it('should create one portal organisation for concurrent first logins from one new organisation', async () => {
    const orgsBefore = stack.portal.state.orgs.size;
    const results = await Promise.all(['carol', 'erin'].map((a) => login('sync', a)));
    for (const r of results) expect(r.location).toContain('/sso?nonce=');
    const globex = [...stack.portal.state.orgs.values()].filter((o) => o.Name === 'Globex Inc');
    expect(globex).toHaveLength(1);
    expect(stack.portal.state.orgs.size - orgsBefore).toBeLessThanOrEqual(1);
  });

  it('should finish a returning developer in three SQL statements: state, developer, audit (the organisation link is cached)', async () => {
    await login('sync', 'bob'); // first login: creates the developer, links and places them
    await login('sync', 'bob'); // looks the portal user up once and remembers the placement
    const start = await hop(`${stack.broker.url}/auth/sync/openid-connect`);
    const cookie = start.res.headers.getSetCookie()[0].split(';')[0];
    const callbackUrl = await loginWithDevIdp(start.location, 'bob');
    // Every statement the broker sends goes through pg.Client#query (pool and TypeORM alike).
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    const sent: string[] = [];
    proto.query = function (this: unknown, ...args: unknown[]) {
      const q = args[0] as string | { text?: string };
      sent.push(typeof q === 'string' ? q : (q.text ?? ''));
      return original.apply(this, args);
    };
    let callback;
    try {
      callback = await hop(callbackUrl, { headers: { cookie } });
    } finally {
      proto.query = original;
    }
    expect(callback.location).toContain('/sso?nonce=');
    // The background sealer and the profile listener may run meanwhile; they touch other tables.
    const loginPath = sent.filter((t) => /login_states|developers|portal_org_links|INSERT INTO audit_events/.test(t));
    expect(loginPath.map((t) => /login_states|developers|portal_org_links|audit_events/.exec(t)?.[0])).toEqual([
      'login_states',
      'developers',
      'audit_events',
    ]);
  });

  it('should end at FailureRedirect with portal_unreachable when the portal is down, and audit why', async () => {
    stack.portal.setFaults({ failStatus: 503 });
    try {
      const { location } = await login('guide', 'erin');
      expect(location).toMatch(/error=portal_(rejected|unreachable)/);
    } finally {
      stack.portal.clearFaults();
    }
    const { rows } = await db.query<{ reason: string }>(
      "SELECT reason FROM audit_events WHERE type = 'login.failed' ORDER BY id DESC LIMIT 1",
    );
    expect(rows[0]?.reason).toMatch(/^portal_/);
  });

  it('should never log the client secret, portal secret, admin token, codes or nonces', () => {
    const logs = stack.broker.logs.text();
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [CLIENT_SECRET, PORTAL_SECRET, PORTAL_TOKEN, ADMIN_SECRET]) expect(logs).not.toContain(secret);
    for (const nonce of stack.portal.state.nonces.keys()) expect(logs).not.toContain(nonce);
    expect(logs).not.toMatch(/[?&]code=(?!\[Redacted\])[A-Za-z0-9_-]{10,}/);
  });
});
