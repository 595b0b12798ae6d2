import { request as httpRequest } from 'node:http';
import { Logger } from '@nestjs/common';
import { EmulatorError } from '../../apps/portal-emulator/src/emulator.error.js';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';

const API_SECRET = 'portal-api-secret-for-tests';
const ADMIN_TOKEN = 'portal-admin-token-for-tests';

interface Call {
  method?: string;
  auth?: string | null;
  /** A string is sent verbatim; anything else as JSON. Sent as bytes, so fetch adds no Content-Type (like TIB). */
  body?: unknown;
  headers?: Record<string, string>;
}

/** The parsed body (untyped on purpose: the assertions check its shape), or undefined. */
function parseJson(text: string) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function call(emu: PortalEmulator, path: string, opts: Call = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.auth) headers.authorization = opts.auth;
  const body =
    opts.body === undefined
      ? undefined
      : new TextEncoder().encode(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
  const res = await fetch(`${emu.url}${path}`, { method: opts.method ?? 'GET', headers, body, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: parseJson(text) };
}

const sso = (emu: PortalEmulator, path: string, opts: Call = {}) => call(emu, path, { auth: API_SECRET, ...opts });
const admin = (emu: PortalEmulator, path: string, opts: Call = {}) => call(emu, path, { auth: ADMIN_TOKEN, ...opts });

function ssoBody(over: Record<string, unknown> = {}) {
  return {
    ForSection: 'portal',
    OrgID: '0',
    EmailAddress: 'dev@example.com',
    DisplayName: 'Dev Eloper',
    GroupID: '',
    GroupsIDs: [],
    SSOOnlyForRegisteredUsers: false,
    ...over,
  };
}

/** The PortalDeveloper TIB posts on first login (specs/tib.md §5.2 step 4). */
function tibDeveloper(email: string, nonce: string, ssoKey: string) {
  return {
    id: '',
    email,
    date_created: new Date().toISOString(),
    inactive: false,
    org_id: '0',
    keys: {},
    subscriptions: {},
    fields: {},
    nonce,
    sso_key: ssoKey,
    password_max_days: 0,
    password_updated: '0001-01-01T00:00:00Z',
    last_login_date: '0001-01-01T00:00:00Z',
    PWHistory: null,
  };
}

async function nonceFor(emu: PortalEmulator, over: Record<string, unknown> = {}): Promise<string> {
  const res = await sso(emu, '/api/sso', { method: 'POST', body: ssoBody(over) });
  expect(res.status).toBe(200);
  return res.json.Meta as string;
}

/** The whole TIB developer login: nonce, SSO-key lookup, create or update, then the browser hand-off. */
async function tibLogin(emu: PortalEmulator, email: string, ssoKey: string, over: Record<string, unknown> = {}) {
  const nonce = await nonceFor(emu, { EmailAddress: email, ...over });
  const found = await sso(emu, `/api/portal/developers/ssokey/${encodeURIComponent(ssoKey)}`);
  const upsert =
    found.status === 200
      ? await sso(emu, `/api/portal/developers/${found.json.id}`, { method: 'PUT', body: { ...found.json, nonce } })
      : await sso(emu, '/api/portal/developers', { method: 'POST', body: tibDeveloper(email, nonce, ssoKey) });
  const landing = await call(emu, `/sso?nonce=${nonce}`);
  return { nonce, found, upsert, landing };
}

/** The management API user behind a developer API id (24 hex digits, not the user id: E5). */
function userOfDeveloper(emu: PortalEmulator, developerId: unknown) {
  const developer = [...emu.state.developers.values()].find((d) => d.id === developerId);
  return developer ? emu.state.users.get(developer.userId) : undefined;
}

function sessionCookie(setCookie: string | null): string {
  const match = /portal-session=([^;]+)/.exec(setCookie ?? '');
  expect(match).not.toBeNull();
  return `portal-session=${match![1]}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('portal emulator (e2e, in-process on port 0)', () => {
  let emu: PortalEmulator;

  // Jest gives each test file its own Nest Logger, so this only quiets the emulators started here.
  beforeAll(() => Logger.overrideLogger(['error', 'warn']));

  beforeEach(async () => {
    emu = await startPortalEmulator({ port: 0, apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
  });

  afterEach(async () => {
    await emu?.stop();
  });

  describe('authentication', () => {
    it('should answer the SSO API with the Dashboard 401 shape for a missing, wrong or Bearer-prefixed secret', async () => {
      for (const auth of [null, 'wrong', `Bearer ${API_SECRET}`]) {
        const res = await call(emu, '/api/sso', { method: 'POST', auth, body: ssoBody() });
        expect(res.status).toBe(401);
        expect(res.json).toEqual({ Status: 'error', Message: 'Not authorised', Meta: null });
      }
      const lookup = await call(emu, '/api/portal/developers/ssokey/x', { auth: ADMIN_TOKEN });
      expect(lookup.status).toBe(401);
      expect(emu.state.nonces.size).toBe(0);
    });

    it('should answer the management API with 401 and an errors array for a wrong token, and accept the raw token', async () => {
      for (const auth of [null, API_SECRET, `Bearer ${ADMIN_TOKEN}`]) {
        const res = await call(emu, '/portal-api/users', { auth });
        expect(res.status).toBe(401);
        expect(res.json.errors).toEqual([expect.any(String)]);
      }
      const ok = await admin(emu, '/portal-api/users');
      expect(ok.status).toBe(200);
      expect(ok.json).toEqual([]);
    });

    it('should not serve /admin/sso, which the EDP does not document', async () => {
      const res = await call(emu, '/admin/sso', {
        method: 'POST',
        auth: API_SECRET,
        headers: { 'admin-auth': API_SECRET },
        body: ssoBody(),
      });
      expect(res.status).toBe(404);
      expect(emu.state.nonces.size).toBe(0);
    });

    it('should protect the fault routes with the admin token', async () => {
      const res = await call(emu, '/__emulator/faults', { method: 'POST', auth: 'nope', body: { failStatus: 500 } });
      expect(res.status).toBe(401);
      expect((await admin(emu, '/portal-api/users')).status).toBe(200);
    });
  });

  describe('SSO nonce (POST /api/sso)', () => {
    it('should create a nonce from a body sent without Content-Type and keep the identity with it', async () => {
      const res = await sso(emu, '/api/sso', {
        method: 'POST',
        body: ssoBody({ GroupID: '1', GroupsIDs: ['1'], DisplayName: 'Ada Lovelace', EmailAddress: 'ada@example.com' }),
      });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ Status: 'OK', Message: 'SSO Nonce created.', Meta: expect.any(String) });
      const recorded = emu.requests.find((r) => r.path === '/api/sso')!;
      expect(recorded.headers['content-type']).toBeUndefined();
      expect(recorded.headers.authorization).toBe(API_SECRET);
      expect((recorded.body as { EmailAddress?: string }).EmailAddress).toBe('ada@example.com');
      const nonce = emu.state.nonces.get(res.json.Meta)!;
      expect(nonce).toMatchObject({
        forSection: 'portal',
        email: 'ada@example.com',
        displayName: 'Ada Lovelace',
        groupId: '1',
        groupIds: ['1'],
      });
      expect(nonce.expiresAt - nonce.createdAt).toBe(60_000);
    });

    it('should decode keys case-insensitively, as the Go portal does', async () => {
      const res = await sso(emu, '/api/sso', {
        method: 'POST',
        body: { forsection: 'portal', orgid: '0', emailaddress: 'case@example.com', displayname: 'Case' },
      });
      expect(res.status).toBe(200);
      expect(emu.state.nonces.get(res.json.Meta)!.email).toBe('case@example.com');
      // Go's folding: the long s (U+017F) folds to S, so ForSection and EmailAddress are read; the
      // dotless ı (U+0131) folds to nothing in ASCII, so DıſplayName is an unknown key, ignored.
      const folded = await sso(emu, '/api/sso', {
        method: 'POST',
        body: { ForSection: 'portal', OrgID: '0', EmailAddreſſ: 'fold@example.com', DısplayName: 'x' },
      });
      expect(folded.status).toBe(200);
      expect(emu.state.nonces.get(folded.json.Meta)).toMatchObject({
        email: 'fold@example.com',
        displayName: 'fold@example.com',
      });
    });

    it('should read a key spelled with the Kelvin sign (U+212A) as its k, and let the last spelling win, as Go does', async () => {
      const nonce = await nonceFor(emu, { EmailAddress: 'kelvin@example.com' });
      // sso_key spelled with U+212A; Go folds it to SSO_KEY. A later sso_Key wins; the dotless ı is no i.
      const developer = { ...tibDeveloper('kelvin@example.com', nonce, 'ignored'), sso_key: undefined };
      const res = await sso(emu, '/api/portal/developers', {
        method: 'POST',
        body: {
          ...developer,
          'sso_\u212aey': 'first@kelvin',
          sso_Key: 'kelvin@openid-connect.com',
          'sso_key\u0131': 'x',
        },
      });
      expect(res.status).toBe(201);
      const found = await sso(emu, `/api/portal/developers/ssokey/${encodeURIComponent('kelvin@openid-connect.com')}`);
      expect(found.status).toBe(200);
      expect(found.json.email).toBe('kelvin@example.com');
      expect((await sso(emu, '/api/portal/developers/ssokey/first%40kelvin')).status).toBe(404);
      // A Kelvin-spelled key of the wrong type fails the decode as the plain key would.
      const typed = await sso(emu, '/api/portal/developers', {
        method: 'POST',
        body: { ...developer, '\u212aeys': 'not an object' },
      });
      expect(typed.status).toBe(400);
    });

    it('should answer 400 "Request body malformed." for bad JSON, a mistyped field, an empty body or an unknown section', async () => {
      const bodies: unknown[] = ['{not json', ssoBody({ EmailAddress: 42 }), undefined, ssoBody({ ForSection: 'x' })];
      for (const body of bodies) {
        const res = await sso(emu, '/api/sso', { method: 'POST', body });
        expect(res.status).toBe(400);
        expect(res.json).toEqual({ Status: 'error', Message: 'Request body malformed.', Meta: null });
      }
      expect(emu.state.nonces.size).toBe(0);
    });

    it('should ignore SSOOnlyForRegisteredUsers for developers (E7) and honour it for dashboard users', async () => {
      const developer = await tibLogin(emu, 'stranger@example.com', 'stranger@openid-connect.com', {
        SSOOnlyForRegisteredUsers: true,
      });
      expect(developer.upsert.status).toBe(201);
      expect(developer.landing.status).toBe(302);
      const refused = await sso(emu, '/api/sso', {
        method: 'POST',
        body: ssoBody({
          ForSection: 'dashboard',
          EmailAddress: 'new-admin@example.com',
          SSOOnlyForRegisteredUsers: true,
        }),
      });
      expect(refused.status).toBe(403);
      expect(refused.json).toMatchObject({ Status: 'error', Meta: null });
      await admin(emu, '/portal-api/users', {
        method: 'POST',
        body: { Email: 'Known@Example.com', Role: 'consumer-team-member', OrganisationID: 1, Active: true },
      });
      const allowed = await sso(emu, '/api/sso', {
        method: 'POST',
        body: ssoBody({ EmailAddress: 'known@example.com', SSOOnlyForRegisteredUsers: true }),
      });
      expect(allowed.status).toBe(200);
    });

    it('should refuse a login whose team id does not exist, at nonce creation', async () => {
      for (const GroupID of ['999', 'not-a-team']) {
        const res = await sso(emu, '/api/sso', { method: 'POST', body: ssoBody({ GroupID, GroupsIDs: [GroupID] }) });
        expect(res.status).toBe(403);
        expect(res.json.Message).toContain(GroupID);
      }
      expect(emu.state.nonces.size).toBe(0);
    });

    it('should refuse an admin (dashboard) nonce unless OrgID is "0"', async () => {
      const res = await sso(emu, '/api/sso', {
        method: 'POST',
        body: ssoBody({ ForSection: 'dashboard', OrgID: '5' }),
      });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ Status: 'error', Message: 'SSO not enabled for org.', Meta: null });
    });
  });

  describe('browser hand-off (GET /sso)', () => {
    it('should set an HttpOnly SameSite=Lax portal-session cookie and redirect to / exactly once per nonce', async () => {
      const nonce = await nonceFor(emu);
      const first = await call(emu, `/sso?nonce=${nonce}`);
      expect(first.status).toBe(302);
      expect(first.headers.get('location')).toBe('/');
      const setCookie = first.headers.get('set-cookie')!;
      expect(setCookie).toMatch(/^portal-session=[^;]+;/);
      expect(setCookie).toMatch(/HttpOnly/i);
      expect(setCookie).toMatch(/SameSite=Lax/i);
      expect(emu.state.sessions.size).toBe(1);

      const again = await call(emu, `/sso?nonce=${nonce}`);
      expect(again.status).toBe(401);
      expect(again.headers.get('set-cookie')).toBeNull();
      expect(again.text).toContain('Login failed');
      expect((await call(emu, '/sso?nonce=made-up')).status).toBe(401);
      expect((await call(emu, '/sso')).status).toBe(401);
      expect(emu.state.sessions.size).toBe(1);
    });

    it('should show the signed-in user, organisation and team with everything HTML-escaped', async () => {
      const org = await admin(emu, '/portal-api/organisations', { method: 'POST', body: { Name: 'Acme & <Sons>' } });
      const team = await admin(emu, `/portal-api/organisations/${org.json.ID}/teams`, {
        method: 'POST',
        body: { Name: '"Partners" <b>' },
      });
      const { landing } = await tibLogin(emu, 'eve@example.com', 'eve@openid-connect.com', {
        DisplayName: "<script>alert(1)</script> O'Neil",
        GroupID: String(team.json.ID),
        GroupsIDs: [String(team.json.ID)],
      });
      expect(landing.status).toBe(302);
      const page = await call(emu, '/', { headers: { cookie: sessionCookie(landing.headers.get('set-cookie')) } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(page.text).not.toContain('<script>');
      expect(page.text).toContain(
        'Signed in as <span id="user-name">&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Neil</span> (<span id="user-email">eve@example.com</span>)',
      );
      expect(page.text).toContain('<span id="organisation">Acme &amp; &lt;Sons&gt;</span>');
      expect(page.text).toContain('<span id="team">&quot;Partners&quot; &lt;b&gt;</span>');
    });

    it('should show a not-signed-in page without a valid session', async () => {
      for (const cookie of [undefined, 'portal-session=forged']) {
        const page = await call(emu, '/', { headers: cookie ? { cookie } : {} });
        expect(page.status).toBe(200);
        expect(page.text).toContain('not signed in');
        expect(page.text).not.toContain('id="user-name"');
      }
    });

    it('should refuse an inactive account at /sso with 403', async () => {
      await admin(emu, '/portal-api/users', {
        method: 'POST',
        body: { Email: 'sleepy@example.com', Role: 'consumer-team-member', OrganisationID: 1 },
      });
      const nonce = await nonceFor(emu, { EmailAddress: 'sleepy@example.com' });
      const res = await call(emu, `/sso?nonce=${nonce}`);
      expect(res.status).toBe(403);
      expect(res.headers.get('set-cookie')).toBeNull();
    });

    it('should sign an admin (dashboard section) in as a Provider Admin without an organisation', async () => {
      const nonce = await nonceFor(emu, { ForSection: 'dashboard', EmailAddress: 'boss@example.com' });
      expect((await call(emu, `/sso?nonce=${nonce}`)).status).toBe(302);
      const user = [...emu.state.users.values()].find((u) => u.Email === 'boss@example.com')!;
      expect(user).toMatchObject({ Role: 'provider-admin', OrganisationID: 0, Teams: [] });
    });
  });

  describe('nonce expiry', () => {
    let short: PortalEmulator;

    beforeEach(async () => {
      short = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN, nonceTtlMs: 150 });
    });

    afterEach(async () => {
      await short?.stop();
    });

    it('should reject an expired nonce at /sso and at the developer endpoints', async () => {
      const nonce = await nonceFor(short, { EmailAddress: 'late@example.com' });
      const fresh = await nonceFor(short, { EmailAddress: 'late@example.com' });
      expect((await call(short, `/sso?nonce=${fresh}`)).status).toBe(302);
      await sleep(250);
      const created = await sso(short, '/api/portal/developers', {
        method: 'POST',
        body: tibDeveloper('late@example.com', nonce, 'late@openid-connect.com'),
      });
      expect(created.status).toBe(400);
      expect(created.json).toMatchObject({ Status: 'error', Meta: null });
      expect((await call(short, `/sso?nonce=${nonce}`)).status).toBe(401);
    });
  });

  describe('developers (/api/portal/developers)', () => {
    it('should run the TIB first login: 404 lookup, 201 create as Consumer Admin with no team when none is sent, then find by SSO key', async () => {
      const { found, upsert, landing } = await tibLogin(emu, 'new@example.com', '00u1ab@openid-connect.com');
      expect(found.status).toBe(404);
      expect(found.json).toMatchObject({ Status: 'error', Meta: null });
      expect(upsert.status).toBe(201);
      expect(upsert.json).toMatchObject({
        email: 'new@example.com',
        sso_key: '00u1ab@openid-connect.com',
        inactive: false,
      });
      expect(landing.status).toBe(302);

      const recorded = emu.requests.filter((r) => r.path.startsWith('/api/portal/developers/ssokey/'));
      expect(recorded[0].path).toBe('/api/portal/developers/ssokey/00u1ab%40openid-connect.com');

      // The developer API's id is a 24-hex ObjectID (E5); no team sent, so no team or organisation (E8).
      expect(upsert.json.id).toMatch(/^[0-9a-f]{24}$/);
      const user = userOfDeveloper(emu, upsert.json.id)!;
      expect(user).toMatchObject({
        Email: 'new@example.com',
        First: 'Dev',
        Last: 'Eloper',
        Role: 'consumer-admin',
        Provider: 'sso',
        Active: true,
        OrganisationID: 0,
        Teams: [],
      });
      const again = await sso(emu, `/api/portal/developers/ssokey/${encodeURIComponent('00u1ab@openid-connect.com')}`);
      expect(again.status).toBe(200);
      expect(again.json.id).toBe(upsert.json.id);
    });

    it('should update the developer found by SSO key with PUT and a fresh nonce', async () => {
      const first = await tibLogin(emu, 'back@example.com', 'back@openid-connect.com');
      const second = await tibLogin(emu, 'back@example.com', 'back@openid-connect.com');
      expect(second.found.status).toBe(200);
      expect(second.upsert.status).toBe(200);
      expect(second.upsert.json.id).toBe(first.upsert.json.id);
      expect(second.landing.status).toBe(302);
      expect(emu.state.users.size).toBe(1);
      expect(emu.state.nonces.get(second.nonce)!.userId).toBe(userOfDeveloper(emu, first.upsert.json.id)!.ID);
    });

    it('should link an existing account by email instead of creating a second one', async () => {
      const org = await admin(emu, '/portal-api/organisations', { method: 'POST', body: { Name: 'Existing Co' } });
      const existing = await admin(emu, '/portal-api/users', {
        method: 'POST',
        body: { Email: 'linked@example.com', Role: 'consumer-team-member', OrganisationID: org.json.ID, Active: true },
      });
      const { upsert, landing } = await tibLogin(emu, 'linked@example.com', 'sub-77@openid-connect.com');
      expect(upsert.status).toBe(200);
      expect(upsert.json.id).toBe(emu.state.developers.get(existing.json.ID)!.id);
      expect(emu.state.developers.get(existing.json.ID)!.ssoKey).toBe('sub-77@openid-connect.com');
      expect(landing.status).toBe(302);
      const lookup = await sso(emu, `/api/portal/developers/ssokey/${encodeURIComponent('sub-77@openid-connect.com')}`);
      expect(lookup.json.id).toBe(upsert.json.id);
      const user = await admin(emu, `/portal-api/users/${existing.json.ID}`);
      expect(user.json).toMatchObject({
        OrganisationID: org.json.ID,
        Organisation: 'Existing Co',
        Role: 'consumer-team-member',
      });
      expect(emu.state.users.size).toBe(1);
    });

    it('should require a valid nonce to create or update a developer', async () => {
      for (const nonce of ['', 'made-up']) {
        const res = await sso(emu, '/api/portal/developers', {
          method: 'POST',
          body: tibDeveloper('x@example.com', nonce, 'x@openid-connect.com'),
        });
        expect(res.status).toBe(400);
        expect(res.json).toEqual({ Status: 'error', Message: 'Invalid or missing nonce.', Meta: null });
      }
      const used = await nonceFor(emu);
      expect((await call(emu, `/sso?nonce=${used}`)).status).toBe(302);
      const afterUse = await sso(emu, '/api/portal/developers', {
        method: 'POST',
        body: tibDeveloper('x@example.com', used, 'x@openid-connect.com'),
      });
      expect(afterUse.status).toBe(400);
      const missing = await sso(emu, '/api/portal/developers/999', {
        method: 'PUT',
        body: tibDeveloper('x@example.com', await nonceFor(emu), 'x@openid-connect.com'),
      });
      expect(missing.status).toBe(404);
      expect((await sso(emu, '/api/portal/developers', { method: 'POST', body: '{' })).status).toBe(400);
    });
  });

  describe('team assignment', () => {
    it('should put a new account in the GroupID team and take the organisation from it', async () => {
      const org = await admin(emu, '/portal-api/organisations', { method: 'POST', body: { Name: 'Partner Org' } });
      const team = await admin(emu, `/portal-api/organisations/${org.json.ID}/teams`, {
        method: 'POST',
        body: { Name: 'Partners' },
      });
      const { upsert } = await tibLogin(emu, 'p@example.com', 'p@openid-connect.com', {
        GroupID: String(team.json.ID),
        GroupsIDs: [String(team.json.ID)],
      });
      const user = await admin(emu, `/portal-api/users/${userOfDeveloper(emu, upsert.json.id)!.ID}`);
      expect(user.json).toMatchObject({
        OrganisationID: org.json.ID,
        Organisation: 'Partner Org',
        Teams: ['Partners'],
      });
    });

    it('should keep the team of an account that has one and assign again only once all teams are removed', async () => {
      const org = await admin(emu, '/portal-api/organisations', { method: 'POST', body: { Name: 'Org B' } });
      const teamB = await admin(emu, `/portal-api/organisations/${org.json.ID}/teams`, {
        method: 'POST',
        body: { Name: 'Team B' },
      });
      const first = await tibLogin(emu, 'q@example.com', 'q@openid-connect.com', { GroupID: '1' });
      const id = String(userOfDeveloper(emu, first.upsert.json.id)!.ID);
      expect(emu.state.users.get(Number(id))!.Teams).toEqual([1]);

      await tibLogin(emu, 'q@example.com', 'q@openid-connect.com', { GroupID: String(teamB.json.ID) });
      expect(emu.state.users.get(Number(id))).toMatchObject({ Teams: [1], OrganisationID: 1 });

      const cleared = await admin(emu, `/portal-api/users/${id}`, { method: 'PUT', body: { Teams: [] } });
      expect(cleared.status).toBe(200);
      expect(cleared.json.Teams).toEqual([]);
      await tibLogin(emu, 'q@example.com', 'q@openid-connect.com', { GroupID: String(teamB.json.ID) });
      expect(emu.state.users.get(Number(id))).toMatchObject({ Teams: [teamB.json.ID], OrganisationID: org.json.ID });
    });
  });

  describe('management API: users and pagination', () => {
    it('should create (200), show, update, and delete users with the spec fields and errors', async () => {
      const created = await admin(emu, '/portal-api/users', {
        method: 'POST',
        body: {
          Email: 'u@example.com',
          First: 'U',
          Last: 'Ser',
          Role: 'consumer-team-member',
          OrganisationID: 1,
          Active: true,
        },
      });
      expect(created.status).toBe(200);
      expect(created.json).toMatchObject({
        ID: expect.any(Number),
        Email: 'u@example.com',
        OrganisationID: 1,
        Organisation: 'Default Organisation',
        Teams: ['Default Organisation All users'],
        Provider: 'password',
        ResetPassword: false,
      });
      expect(created.json.CreatedAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);

      const dup = await admin(emu, '/portal-api/users', {
        method: 'POST',
        body: { Email: 'U@example.com', Role: 'consumer-team-member' },
      });
      expect(dup.status).toBe(422);
      expect(dup.json.errors).toHaveLength(1);
      expect(
        (await admin(emu, '/portal-api/users', { method: 'POST', body: { Email: 'r@example.com', Role: 'boss' } }))
          .status,
      ).toBe(422);
      expect((await admin(emu, '/portal-api/users', { method: 'POST', body: { Email: 5 } })).status).toBe(400);

      const id = created.json.ID as number;
      const updated = await admin(emu, `/portal-api/users/${id}`, {
        method: 'PUT',
        body: { First: 'Updated', Teams: ['1'] },
      });
      expect(updated.status).toBe(200);
      expect(updated.json).toMatchObject({
        First: 'Updated',
        Last: 'Ser',
        Teams: ['Default Organisation All users'],
      });
      const badTeam = await admin(emu, `/portal-api/users/${id}`, { method: 'PUT', body: { Teams: ['999'] } });
      expect(badTeam.status).toBe(422);
      expect((await admin(emu, '/portal-api/users/999', { method: 'PUT', body: { First: 'x' } })).status).toBe(422);

      const missing = await admin(emu, '/portal-api/users/999');
      expect(missing.status).toBe(404);
      expect(missing.json).toEqual({ errors: [expect.any(String)] });

      const deleted = await admin(emu, `/portal-api/users/${id}?force=true`, { method: 'DELETE' });
      expect(deleted.status).toBe(200);
      expect(deleted.json).toEqual({ status: 'ok' });
      expect((await admin(emu, `/portal-api/users/${id}`, { method: 'DELETE' })).status).toBe(404);
    });

    it('should page every list with page, per_page (default 20) and limit, as bare arrays', async () => {
      for (let i = 1; i <= 45; i++) {
        const res = await admin(emu, '/portal-api/users', {
          method: 'POST',
          body: { Email: `user${i}@example.com`, Role: 'consumer-team-member', OrganisationID: 1, Active: true },
        });
        expect(res.status).toBe(200);
      }
      const ids = async (q: string) =>
        ((await admin(emu, `/portal-api/users${q}`)).json as { ID: number }[]).map((u) => u.ID);
      expect(await ids('')).toHaveLength(20);
      const pages = [
        await ids('?page=1&per_page=20'),
        await ids('?page=2&per_page=20'),
        await ids('?page=3&per_page=20'),
      ];
      expect(pages.map((p) => p.length)).toEqual([20, 20, 5]);
      expect(new Set(pages.flat()).size).toBe(45);
      expect(await ids('?page=4&per_page=20')).toEqual([]);
      const all = pages.flat();
      expect(await ids('?page=2&per_page=10&limit=3')).toEqual(all.slice(10, 13));
      expect(await ids('?per_page=7')).toEqual(all.slice(0, 7));

      for (let i = 1; i <= 3; i++) {
        await admin(emu, '/portal-api/organisations', { method: 'POST', body: { Name: `Org ${i}` } });
      }
      const orgs = await admin(emu, '/portal-api/organisations?page=2&per_page=2');
      expect(Array.isArray(orgs.json)).toBe(true);
      expect(orgs.json.map((o: { Name: string }) => o.Name)).toEqual(['Org 2', 'Org 3']);
      const teams = await admin(emu, '/portal-api/organisations/1/teams?page=2');
      expect(teams.json).toEqual([]);
    });
  });

  describe('management API: organisations and teams', () => {
    it('should create an organisation with a default team and manage its teams', async () => {
      const org = await admin(emu, '/portal-api/organisations', { method: 'POST', body: { Name: 'Globex' } });
      expect(org.status).toBe(200);
      expect(org.json).toMatchObject({
        Name: 'Globex',
        Users: [],
        Teams: [{ ID: expect.any(Number), Name: expect.any(String), Default: true }],
      });
      const orgId = org.json.ID as number;
      const defaultTeamId = org.json.Teams[0].ID as number;

      const team = await admin(emu, `/portal-api/organisations/${orgId}/teams`, {
        method: 'POST',
        body: { Name: 'Ops' },
      });
      expect(team.status).toBe(200);
      expect(team.json).toMatchObject({ Name: 'Ops', Users: [] });
      const list = await admin(emu, `/portal-api/organisations/${orgId}/teams`);
      expect(list.json).toEqual([
        { ID: defaultTeamId, Name: expect.any(String), Default: true },
        { ID: team.json.ID, Name: 'Ops', Default: false },
      ]);

      const mk = async (email: string) =>
        (
          await admin(emu, '/portal-api/users', {
            method: 'POST',
            body: { Email: email, Role: 'consumer-team-member', OrganisationID: orgId, Active: true },
          })
        ).json.ID as number;
      const a = await mk('a@globex.com');
      const b = await mk('b@globex.com');
      const teamPath = `/portal-api/organisations/${orgId}/teams/${team.json.ID}`;
      const put = await admin(emu, teamPath, { method: 'PUT', body: { Name: 'Operations', Users: [a, b] } });
      expect(put.status).toBe(200);
      expect(put.json).toMatchObject({ Name: 'Operations', Users: [`User#${a}`, `User#${b}`] });
      const replaced = await admin(emu, teamPath, { method: 'PUT', body: { Name: 'Operations', Users: [b] } });
      expect(replaced.json.Users).toEqual([`User#${b}`]);
      expect(emu.state.users.get(a)!.Teams).toEqual([defaultTeamId]);
      expect((await admin(emu, teamPath, { method: 'PUT', body: { Users: [9999] } })).status).toBe(422);

      expect(
        (await admin(emu, `/portal-api/organisations/${orgId}/teams/${defaultTeamId}`, { method: 'DELETE' })).status,
      ).toBe(422);
      const del = await admin(emu, teamPath, { method: 'DELETE' });
      expect(del.json).toEqual({ status: 'ok' });
      expect(emu.state.users.get(b)!.Teams).toEqual([defaultTeamId]);
      expect((await admin(emu, teamPath)).status).toBe(404);
      expect((await admin(emu, `/portal-api/organisations/1/teams/${defaultTeamId}`)).status).toBe(404);

      const renamed = await admin(emu, `/portal-api/organisations/${orgId}`, {
        method: 'PUT',
        body: { Name: 'Globex Corp' },
      });
      expect(renamed.json).toMatchObject({ ID: orgId, Name: 'Globex Corp' });
      expect(renamed.json.Users.map((u: { ID: number }) => u.ID)).toEqual([a, b]);
    });

    it('should move the users of a deleted organisation to the Default Organisation', async () => {
      const org = await admin(emu, '/portal-api/organisations', { method: 'POST', body: { Name: 'Doomed' } });
      const user = await admin(emu, '/portal-api/users', {
        method: 'POST',
        body: { Email: 'd@doomed.com', Role: 'consumer-admin', OrganisationID: org.json.ID, Active: true },
      });
      expect(user.json.Organisation).toBe('Doomed');
      const del = await admin(emu, `/portal-api/organisations/${org.json.ID}`, { method: 'DELETE' });
      expect(del.status).toBe(200);
      expect(del.json).toEqual({ status: 'ok' });
      const moved = await admin(emu, `/portal-api/users/${user.json.ID}`);
      expect(moved.json).toMatchObject({
        OrganisationID: 1,
        Organisation: 'Default Organisation',
        Teams: ['Default Organisation All users'],
      });
      expect((await admin(emu, `/portal-api/organisations/${org.json.ID}`)).status).toBe(404);
      expect((await admin(emu, `/portal-api/organisations/${org.json.ID}/teams`)).status).toBe(404);
      expect((await admin(emu, '/portal-api/organisations/1', { method: 'DELETE' })).status).toBe(422);
    });

    it('should answer 422 for a missing name and 400 for a body that is not JSON', async () => {
      const noName = await admin(emu, '/portal-api/organisations', { method: 'POST', body: {} });
      expect(noName.status).toBe(422);
      expect(noName.json).toEqual({ errors: [expect.any(String)] });
      const bad = await admin(emu, '/portal-api/organisations', { method: 'POST', body: 'Name=x' });
      expect(bad.status).toBe(400);
      expect((await admin(emu, '/portal-api/organisations/abc')).status).toBe(404);
    });
  });

  describe('faults', () => {
    it('should delay requests by latencyMs', async () => {
      emu.setFaults({ latencyMs: 300 });
      const started = Date.now();
      const res = await admin(emu, '/portal-api/organisations');
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      emu.clearFaults();
      const quick = Date.now();
      await admin(emu, '/portal-api/organisations');
      expect(Date.now() - quick).toBeLessThan(250);
    });

    it("should fail only the matching paths with failStatus and each surface's error shape", async () => {
      emu.setFaults({ failStatus: 503, paths: ['/portal-api'] });
      const failed = await admin(emu, '/portal-api/organisations');
      expect(failed.status).toBe(503);
      expect(failed.json).toEqual({ errors: [expect.any(String)] });
      expect((await sso(emu, '/api/sso', { method: 'POST', body: ssoBody() })).status).toBe(200);

      emu.setFaults({ failStatus: 500 });
      const ssoFailed = await sso(emu, '/api/sso', { method: 'POST', body: ssoBody() });
      expect(ssoFailed.status).toBe(500);
      expect(ssoFailed.json).toMatchObject({ Status: 'error', Meta: null });
      expect(emu.requests.filter((r) => r.path === '/api/sso')).toHaveLength(2);
      emu.clearFaults();
      expect((await admin(emu, '/portal-api/organisations')).status).toBe(200);
      expect(() => emu.setFaults({ failStatus: 200 })).toThrow();
    });

    it('should set and clear faults over HTTP for child-process use', async () => {
      const set = await admin(emu, '/__emulator/faults', {
        method: 'POST',
        body: { failStatus: 502, paths: ['/api/'] },
      });
      expect(set.status).toBe(200);
      expect((await sso(emu, '/api/sso', { method: 'POST', body: ssoBody() })).status).toBe(502);
      expect((await admin(emu, '/__emulator/faults', { method: 'POST', body: { latencyMs: -1 } })).status).toBe(422);
      expect((await admin(emu, '/__emulator/faults', { method: 'DELETE' })).status).toBe(200);
      expect((await sso(emu, '/api/sso', { method: 'POST', body: ssoBody() })).status).toBe(200);
      expect(emu.requests.some((r) => r.path.startsWith('/__emulator'))).toBe(false);
    });

    it('should answer every mistyped, negative, fractional or huge skip/times (and other fault value) with a 4xx, never a 500', async () => {
      const bad: unknown[] = [
        { skip: -1 },
        { times: -1 },
        { skip: '1' },
        { times: '2' },
        { skip: 1.5 },
        { times: 1e300 },
        { skip: 2 ** 53 },
        '{"times": 9223372036854775807}',
        { skip: true },
        { times: [1] },
        { skip: { n: 1 } },
        { '\u017fkip': -3 },
        { sKip: 'x' },
        { latencyMs: '5' },
        { failStatus: 200 },
        { failStatus: '503' },
        { paths: 'not-a-list' },
        { paths: [1] },
        { paths: ['no-slash'] },
        { methods: ['get'] },
        { loseAnswer: 'yes' },
        '{"skip": 1e400}',
        '{"times": -0.5}',
        '[1,2]',
        '"skip"',
        '{"skip": 1',
      ];
      const wrong: unknown[] = [];
      for (const body of bad) {
        const res = await admin(emu, '/__emulator/faults', { method: 'POST', body });
        const clear = Array.isArray(res.json?.errors) && res.json.errors.length === 1 && res.json.errors[0].length > 0;
        if (res.status < 400 || res.status >= 500 || !clear) wrong.push({ body, status: res.status, text: res.text });
      }
      expect(wrong).toEqual([]);
      const negative = await admin(emu, '/__emulator/faults', { method: 'POST', body: { times: -1 } });
      expect([negative.status, negative.json]).toEqual([422, { errors: ['times must be a non-negative integer'] }]);
      const quoted = await admin(emu, '/__emulator/faults', { method: 'POST', body: { skip: '1' } });
      expect([quoted.status, quoted.json]).toEqual([400, { errors: ['Request body malformed'] }]);
      // Nothing was set: a request still passes, and the emulator still answers.
      expect((await sso(emu, '/api/sso', { method: 'POST', body: ssoBody() })).status).toBe(200);
      // Good counts, also spelled with the long s and the Kelvin sign, still work: skip one, fail one.
      const set = await admin(emu, '/__emulator/faults', {
        method: 'POST',
        body: { failStatus: 503, paths: ['/api/sso'], '\u017fkip': 1, times: 1 },
      });
      expect(set.status).toBe(200);
      expect(set.json).toEqual({ failStatus: 503, paths: ['/api/sso'], skip: 1, times: 1 });
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        statuses.push((await sso(emu, '/api/sso', { method: 'POST', body: ssoBody() })).status);
      }
      expect(statuses).toEqual([200, 503, 200]);
      const kelvin = await admin(emu, '/__emulator/faults', {
        method: 'POST',
        body: { failStatus: 503, 's\u212aip': 0 },
      });
      expect(kelvin.json).toEqual({ failStatus: 503, skip: 0 });
      // Huge but exact counts are fine.
      const huge = await admin(emu, '/__emulator/faults', {
        method: 'POST',
        body: { failStatus: 503, skip: Number.MAX_SAFE_INTEGER, times: Number.MAX_SAFE_INTEGER },
      });
      expect(huge.status).toBe(200);
      expect((await sso(emu, '/api/sso', { method: 'POST', body: ssoBody() })).status).toBe(200);
    });

    it('should refuse faults of the wrong JavaScript type from the programmatic API with an EmulatorError, not a TypeError', () => {
      const bad = [
        { skip: '1' },
        { times: -1 },
        { paths: '/api/' },
        { paths: [1] },
        { methods: 'GET' },
        { methods: [null] },
        { loseAnswer: 1 },
        { latencyMs: Infinity },
      ];
      for (const f of bad) {
        expect(() => emu.setFaults(f as never)).toThrow(EmulatorError);
      }
      expect(() => emu.setFaults(null as never)).toThrow(EmulatorError);
    });

    it('should refuse connections after stop()', async () => {
      const own = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
      expect((await fetch(`${own.url}/`)).status).toBe(200);
      await own.stop();
      const error = await fetch(`${own.url}/`).then(
        () => null,
        (e: unknown) => e as { cause?: { code?: string } },
      );
      expect(error?.cause?.code).toBe('ECONNREFUSED');
    });
  });
});

/** One answer with everything the client sees: status, raw headers in order (Date left out), body. */
interface RawAnswer {
  status: number;
  headers: string[];
  body: string;
}

/** A plain node:http request (no Accept or other header unless given), on a fresh connection. */
function rawCall(base: string, method: string, path: string, headers: Record<string, string>, body?: string) {
  const { hostname, port } = new URL(base);
  return new Promise<RawAnswer>((resolve, reject) => {
    const sent = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = httpRequest({ host: hostname, port, method, path, headers: sent, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const kept: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i].toLowerCase() !== 'date') kept.push(res.rawHeaders[i], res.rawHeaders[i + 1]);
        }
        resolve({ status: res.statusCode!, headers: kept, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Deterministic stand-in for the random tokens, so two emulators given the same requests agree. */
function countingTokens() {
  let n = 0;
  return (bytes: number) => `tok${bytes}-${++n}`;
}

describe('portal emulator lean routes (e2e, against the Nest controllers)', () => {
  let clock = Date.parse('2026-03-04T05:06:07.891Z');
  let lean: PortalEmulator;
  let nest: PortalEmulator;

  beforeAll(() => Logger.overrideLogger(['error', 'warn']));

  beforeEach(async () => {
    clock = Date.parse('2026-03-04T05:06:07.891Z');
    const common = { apiSecret: API_SECRET, adminToken: ADMIN_TOKEN, now: () => clock };
    lean = await startPortalEmulator({ ...common, randomToken: countingTokens() });
    nest = await startPortalEmulator({ ...common, randomToken: countingTokens(), leanRoutes: false });
  });

  afterEach(async () => {
    await lean?.stop();
    await nest?.stop();
  });

  it('should answer every request exactly as the Nest controllers do: status, headers in order, body', async () => {
    let steps = 0;
    /** Sends the same request to both emulators, expects identical answers, returns the parsed body. */
    async function both(
      method: string,
      path: string,
      opts: { auth?: string; body?: unknown; headers?: Record<string, string> } = {},
    ) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.auth !== undefined) headers.authorization = opts.auth;
      const body =
        opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      const fromLean = await rawCall(lean.url, method, path, headers, body);
      const fromNest = await rawCall(nest.url, method, path, headers, body);
      expect({ method, path, ...fromLean }).toEqual({ method, path, ...fromNest });
      steps++;
      return { status: fromLean.status, json: parseJson(fromLean.body), headers: fromLean.headers };
    }
    const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      both(method, path, { auth: API_SECRET, body, headers });
    const adm = (method: string, path: string, body?: unknown) => both(method, path, { auth: ADMIN_TOKEN, body });
    const nonceOf = async (over: Record<string, unknown>) => {
      const res = await api('POST', '/api/sso', ssoBody(over));
      expect(res.status).toBe(200);
      return res.json.Meta as string;
    };

    // POST /api/sso: success, credentials, bodies, refusals, and paths only Express matches.
    const ada = await nonceOf({ EmailAddress: 'ada@example.com', DisplayName: 'Ada Lövelace ✓' });
    for (const auth of ['wrong', `Bearer ${API_SECRET}`, ADMIN_TOKEN]) {
      expect((await both('POST', '/api/sso', { auth, body: ssoBody() })).status).toBe(401);
    }
    expect((await both('POST', '/api/sso', { body: ssoBody() })).status).toBe(401);
    for (const body of ['{not json', '', '   ', 'null', '[]', '"x"', ssoBody({ EmailAddress: 42 })]) {
      expect((await api('POST', '/api/sso', body)).status).toBe(400);
    }
    expect((await api('POST', '/api/sso', ssoBody({ ForSection: 'x' }))).status).toBe(400);
    expect((await api('POST', '/api/sso', ssoBody({ ForSection: 'dashboard', OrgID: '5' }))).status).toBe(403);
    expect((await api('POST', '/api/sso', ssoBody({ SSOOnlyForRegisteredUsers: true }))).status).toBe(200);
    expect((await api('POST', '/api/sso', ssoBody({ GroupID: '999' }))).status).toBe(403);
    const lower = { forsection: 'portal', emailaddress: 'case@example.com', displayname: 'Case' };
    expect((await api('POST', '/api/sso?x=1', lower, { 'content-type': 'application/json' })).status).toBe(200);
    for (const path of ['/api/sso/', '/API/SSO', '/api//sso', '/api/sso#frag']) {
      await api('POST', path, ssoBody());
    }
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) await api(method, '/api/sso', ssoBody());

    // The developer endpoints: TIB's first login, the lookup and the update.
    const adaKey = '/api/portal/developers/ssokey/ada%40openid-connect.com';
    expect((await api('GET', adaKey)).status).toBe(404);
    const created = await api(
      'POST',
      '/api/portal/developers',
      tibDeveloper('ada@example.com', ada, 'ada@openid-connect.com'),
    );
    expect(created.status).toBe(201);
    const found = await api('GET', adaKey);
    expect(found.status).toBe(200);
    expect((await both('GET', adaKey, { auth: 'wrong' })).status).toBe(401);
    await api('GET', '/api/portal/developers/ssokey/ada@openid-connect.com');
    for (const key of ['a%2Fb', '%E0%A4%A', '', 'ada%40openid-connect.com/', 'x%20y']) {
      await api('GET', `/api/portal/developers/ssokey/${key}`);
    }
    const etag = found.headers[found.headers.findIndex((h) => h.toLowerCase() === 'etag') + 1];
    expect((await api('GET', adaKey, undefined, { 'if-none-match': etag })).status).toBe(304);
    expect((await api('GET', adaKey, undefined, { 'if-none-match': '"other"' })).status).toBe(200);
    await api('HEAD', adaKey);
    const id = found.json.id as string;
    // The management API names the user by its integer id, not the developer API's (E5).
    const userId = userOfDeveloper(lean, id)!.ID;
    const fresh = await nonceOf({ EmailAddress: 'ada@example.com' });
    expect((await api('PUT', `/api/portal/developers/${id}`, { ...found.json, nonce: fresh })).status).toBe(200);
    const changed = {
      ...found.json,
      nonce: fresh,
      keys: { k: { a: 1 } },
      fields: { x: 'ÿ' },
      email: 'Ada.L@example.com',
    };
    expect((await api('PUT', `/api/portal/developers/${id}`, changed)).status).toBe(200);
    for (const [path, body] of [
      ['/api/portal/developers/999', { ...found.json, nonce: fresh }],
      ['/api/portal/developers/abc', { ...found.json, nonce: fresh }],
      [`/api/portal/developers/${id}`, { ...found.json, nonce: 'made-up' }],
      [`/api/portal/developers/${id}`, '{'],
      [`/api/portal/developers/${id}`, { ...found.json, nonce: fresh, keys: 'not an object' }],
      ['/api/portal/developers/', { ...found.json, nonce: fresh }],
    ] as const) {
      expect((await api('PUT', path, body)).status).toBeGreaterThanOrEqual(400);
    }
    expect((await both('PUT', `/api/portal/developers/${id}`, { body: changed })).status).toBe(401);
    const bob = await nonceOf({ EmailAddress: 'bob@example.com', DisplayName: 'Bob' });
    const bobDev = tibDeveloper('bob@example.com', bob, 'bob@openid-connect.com');
    expect((await api('POST', '/api/portal/developers', bobDev)).status).toBe(201);
    expect((await api('POST', '/api/portal/developers', bobDev)).status).toBe(200);
    expect((await api('POST', '/api/portal/developers', { ...bobDev, nonce: 'made-up' })).status).toBe(400);
    expect((await api('POST', '/api/portal/developers', 'nope')).status).toBe(400);
    const boss = await adm('POST', '/portal-api/users', {
      Email: 'boss@example.com',
      Role: 'provider-admin',
      Active: true,
    });
    expect(boss.status).toBe(200);
    const bossNonce = await nonceOf({ EmailAddress: 'boss@example.com' });
    expect(
      (await api('POST', '/api/portal/developers', tibDeveloper('boss@example.com', bossNonce, 'boss-key'))).status,
    ).toBe(403);
    expect((await api('PUT', `/api/portal/developers/${boss.json.ID}`, { nonce: bossNonce })).status).toBe(404);
    // Bob takes Ada's SSO key: the lookup keeps answering the developer created first.
    const bobFound = await api('GET', '/api/portal/developers/ssokey/bob%40openid-connect.com');
    const stolen = { ...bobFound.json, nonce: bob, sso_key: 'Ada.L@example.com' };
    await api('PUT', `/api/portal/developers/${bobFound.json.id}`, { ...stolen, sso_key: 'ada@openid-connect.com' });
    expect((await api('GET', adaKey)).json.email).toBe('Ada.L@example.com');

    // The Management API reads and the user update.
    expect((await adm('GET', '/portal-api/users')).json).toHaveLength(3);
    for (const auth of [API_SECRET, `Bearer ${ADMIN_TOKEN}`]) {
      expect((await both('GET', '/portal-api/users', { auth })).status).toBe(401);
    }
    for (const query of [
      'page=1&per_page=1',
      'page=2&per_page=1&limit=5',
      'page=0',
      'page=x',
      'page=1&page=2',
      'limit=2',
    ]) {
      await adm('GET', `/portal-api/users?${query}`);
    }
    for (const path of [
      `/portal-api/users/${userId}`,
      '/portal-api/users/999',
      '/portal-api/users/abc',
      '/portal-api/users/%31',
    ]) {
      await adm('GET', path);
    }
    await adm('GET', '/portal-api/users/');
    const org = await adm('POST', '/portal-api/organisations', { Name: 'Acme & Sons' });
    const teams = await adm('GET', `/portal-api/organisations/${org.json.ID}/teams`);
    expect(teams.json).toHaveLength(1);
    for (const path of ['999/teams', 'abc/teams', `${org.json.ID}/teams?per_page=1&page=2`, `${org.json.ID}/teams/`]) {
      await adm('GET', `/portal-api/organisations/${path}`);
    }
    await adm('GET', '/portal-api/organisations');
    const move = { OrganisationID: org.json.ID, Teams: [String(teams.json[0].ID)] };
    expect((await adm('PUT', `/portal-api/users/${userId}`, move)).status).toBe(200);
    for (const [path, body] of [
      [`/portal-api/users/${userId}`, { Teams: [999] }],
      [`/portal-api/users/${userId}`, { Email: 'bob@example.com' }],
      [`/portal-api/users/${userId}`, '{'],
      ['/portal-api/users/abc', move],
      ['/portal-api/users/999', move],
    ] as const) {
      expect((await adm('PUT', path, body)).status).toBeGreaterThanOrEqual(400);
    }
    const bobUser = userOfDeveloper(lean, bobFound.json.id)!.ID;
    expect((await adm('PUT', `/portal-api/users/${bobUser}`, { Active: false })).status).toBe(200);

    // The browser hand-off, with and without content negotiation.
    const landing = await both('GET', `/sso?nonce=${fresh}`, { headers: { accept: '*/*' } });
    expect(landing.status).toBe(302);
    expect((await both('GET', `/sso?nonce=${fresh}`)).status).toBe(401);
    const bobNonce = await nonceOf({ EmailAddress: 'bob@example.com' });
    expect((await both('GET', `/sso?nonce=${encodeURIComponent(bobNonce)}`)).status).toBe(403);
    for (const path of ['/sso', '/sso?nonce=made-up', '/sso?nonce=a&nonce=b', '/sso?nonce=%zz']) {
      expect((await both('GET', path)).status).toBe(401);
    }
    expect(
      (await both('GET', `/sso?nonce=${await nonceOf({ ForSection: 'dashboard', EmailAddress: 'ceo@example.com' })}`))
        .status,
    ).toBe(302);
    const negotiated = await nonceOf({ EmailAddress: 'ada.l@example.com' });
    expect((await both('GET', `/sso?nonce=${negotiated}`, { headers: { accept: 'text/html' } })).status).toBe(302);
    for (const path of ['/sso/', '/SSO']) await both('GET', `${path}?nonce=${await nonceOf({})}`);
    await both('HEAD', `/sso?nonce=${await nonceOf({})}`);
    const cookie = landing.headers[landing.headers.findIndex((h) => h.toLowerCase() === 'set-cookie') + 1];
    await both('GET', '/', { headers: { cookie: cookie.split(';')[0] } });

    // Faults apply to the lean routes like to the others.
    await adm('POST', '/__emulator/faults', { failStatus: 503, paths: ['/api/'] });
    expect((await api('POST', '/api/sso', ssoBody())).status).toBe(503);
    expect((await api('GET', adaKey)).status).toBe(503);
    expect((await both('HEAD', adaKey, { auth: API_SECRET })).status).toBe(503);
    expect((await adm('GET', '/portal-api/users')).status).toBe(200);
    await adm('POST', '/__emulator/faults', { failStatus: 500 });
    expect((await adm('GET', `/portal-api/users/${userId}`)).status).toBe(500);
    await adm('POST', '/__emulator/faults', { latencyMs: 5 });
    const late = await nonceOf({ EmailAddress: 'ada.l@example.com' });
    await adm('DELETE', '/__emulator/faults');

    // Expiry: 60 s later the nonce is refused by both developer endpoints and /sso.
    clock += 60_001;
    expect((await api('PUT', `/api/portal/developers/${id}`, { ...found.json, nonce: late })).status).toBe(400);
    expect((await both('GET', `/sso?nonce=${late}`)).status).toBe(401);

    expect(steps).toBeGreaterThan(100);
    const withoutHost = (p: PortalEmulator) =>
      p.requests.map(({ headers: { host: _host, ...headers }, ...r }) => ({ ...r, headers }));
    expect(withoutHost(lean)).toEqual(withoutHost(nest));
    expect([...lean.state.users.values()]).toEqual([...nest.state.users.values()]);
    expect([...lean.state.developers.values()]).toEqual([...nest.state.developers.values()]);
    expect([...lean.state.nonces.values()]).toEqual([...nest.state.nonces.values()]);
    expect([...lean.state.sessions.values()]).toEqual([...nest.state.sessions.values()]);
  });
});
