import pg from 'pg';
import { asSuperuser } from '@test/support/database.js';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { ADMIN_SECRET, guideProfile, hop, putProfile, startStack, type Stack } from '@test/support/stack.js';

/**
 * SCIM 2.0 (issue 16, item 1) driven the way Entra ID and Okta provision: find by filter, create,
 * patch `active` (Entra's "False"/"True" strings, Okta's path-less value object), replace,
 * delete. Every response is checked against the SCIM schemas; the developer's sign-in, the
 * portal user and the audit log follow. Bad input gets SCIM errors, never a 5xx.
 */
const ENTRA_TOKEN = 'entra-scim-token-0123456789abcdefghijklmnop';
const OKTA_TOKEN = 'okta-scim-token-0123456789abcdefghijklmnopq';
/** A client scoped (BROKER_SCIM_ISSUERS) to an IdP other than the stack's dev IdP. */
const ELSEWHERE_TOKEN = 'elsewhere-scim-token-0123456789abcdefghijk';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** RFC 7643 §4.1 / §3.1: the shape of a User resource as the broker answers it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies checked field by field
function expectUser(body: Record<string, any>, expected: Record<string, unknown> = {}) {
  expect(body.schemas).toEqual([USER]);
  expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(typeof body.userName).toBe('string');
  expect(typeof body.active).toBe('boolean');
  expect(Array.isArray(body.emails)).toBe(true);
  for (const e of body.emails) expect(e).toEqual({ value: expect.any(String), type: 'work', primary: true });
  expect(body.meta).toEqual({
    resourceType: 'User',
    created: expect.stringMatching(/Z$/),
    lastModified: expect.stringMatching(/Z$/),
    location: expect.stringMatching(new RegExp(`/scim/v2/Users/${body.id}$`)),
    version: expect.stringMatching(/^W\/"\d+"$/),
  });
  expect(body).toMatchObject(expected);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
function expectList(body: Record<string, any>, total: number) {
  expect(body).toMatchObject({ schemas: [LIST], totalResults: total, startIndex: expect.any(Number) });
  expect(body.itemsPerPage).toBe(body.Resources.length);
  for (const r of body.Resources) expectUser(r);
}

describe('SCIM 2.0 provisioning (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;

  const scim = async (token: string, method: string, path: string, body?: unknown, type = 'application/scim+json') => {
    const res = await fetch(`${stack.broker.url}/scim/v2${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': type } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : null };
  };
  const entra = (method: string, path: string, body?: unknown) => scim(ENTRA_TOKEN, method, path, body);
  const okta = (method: string, path: string, body?: unknown) =>
    scim(OKTA_TOKEN, method, path, body, 'application/json');
  const filter = (f: string) => `/Users?filter=${encodeURIComponent(f)}`;

  async function login(account: string) {
    const start = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
    const cookie = start.res.headers
      .getSetCookie()
      .find((c) => c.startsWith('sso_broker_login='))!
      .split(';')[0];
    const done = await hop(await loginWithDevIdp(start.location, account), { headers: { cookie } });
    if (done.location.includes('/sso?nonce=')) await hop(done.location);
    return done.location;
  }

  const portalUser = (email: string) => [...stack.portal.state.users.values()].find((u) => u.Email === email)!;

  async function portalActive(email: string, active: boolean) {
    while (portalUser(email).Active !== active) await new Promise((r) => setTimeout(r, 50));
    return portalUser(email).Active;
  }

  const audit = async (type: string) =>
    (
      await db.query<{ actor: string; developer_id: string | null }>(
        'SELECT actor, developer_id::text FROM audit_events WHERE type = $1 ORDER BY id',
        [type],
      )
    ).rows;

  beforeAll(async () => {
    stack = await startStack({
      env: {
        BROKER_SCIM_TOKENS: `entra:${ENTRA_TOKEN},okta:${OKTA_TOKEN},elsewhere:${ELSEWHERE_TOKEN}`,
        BROKER_SCIM_ISSUERS: 'elsewhere=https://other-idp.example',
        BROKER_DEPROVISION_POLL_MS: '50',
        BROKER_BODY_LIMIT_BYTES: '65536',
      },
    });
    await putProfile(stack, guideProfile(stack));
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.stop();
  });

  it('should describe itself (ServiceProviderConfig, ResourceTypes, Schemas) as application/scim+json', async () => {
    const config = await entra('GET', '/ServiceProviderConfig');
    expect(config.type).toMatch(/^application\/scim\+json/);
    expect(config.body).toMatchObject({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      patch: { supported: true },
      filter: { supported: true, maxResults: 200 },
      bulk: { supported: false },
      authenticationSchemes: [expect.objectContaining({ type: 'oauthbearertoken' })],
    });
    const types = await entra('GET', '/ResourceTypes');
    expect(types.body).toMatchObject({
      schemas: [LIST],
      totalResults: 1,
      Resources: [{ id: 'User', endpoint: '/Users', schema: USER }],
    });
    const schemas = await entra('GET', '/Schemas');
    expect(schemas.body.Resources[0].id).toBe(USER);
    const names = schemas.body.Resources[0].attributes.map((a: { name: string }) => a.name);
    expect(names).toEqual(expect.arrayContaining(['userName', 'externalId', 'name', 'active', 'emails']));
    // /docs documents the SCIM routes.
    const openapi = (await (await fetch(`${stack.broker.url}/docs-json`)).json()) as {
      paths: Record<string, Record<string, { tags?: string[] }>>;
    };
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/scim/v2/ServiceProviderConfig', '/scim/v2/Users', '/scim/v2/Users/{id}']),
    );
    expect(Object.keys(openapi.paths['/scim/v2/Users/{id}']).sort()).toEqual(['delete', 'get', 'patch', 'put']);
    expect(openapi.paths['/scim/v2/Users'].post.tags).toEqual(['scim']);
  });

  it('should provision, deactivate, reactivate and delete the way Entra ID does', async () => {
    // Entra: look up by the matching attribute, then create.
    expectList((await entra('GET', filter('userName eq "alice@acme.example"'))).body, 0);
    const created = await entra('POST', '/Users', {
      schemas: [USER, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'],
      externalId: 'alice',
      userName: 'alice@acme.example',
      active: true,
      displayName: 'Alice Anders',
      emails: [{ primary: true, type: 'work', value: 'alice@acme.example' }],
      name: { formatted: 'Alice Anders', familyName: 'Anders', givenName: 'Alice' },
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Partners' },
    });
    expect(created.status).toBe(201);
    expect(created.type).toMatch(/^application\/scim\+json/);
    expectUser(created.body, { userName: 'alice@acme.example', externalId: 'alice', active: true });
    const id = created.body.id as string;
    const found = await entra('GET', filter('externalId eq "alice"'));
    expectList(found.body, 1);
    expect(found.body.Resources[0].id).toBe(id);

    // First login: matched by subject = externalId.
    expect(await login('alice')).toContain('/sso?nonce=');

    const off = await entra('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(off.status).toBe(200);
    expectUser(off.body, { active: false });
    expect(await login('alice')).toContain('error=developer_blocked');
    expect(await portalActive('alice@acme.example', false)).toBe(false);
    const [deactivated] = await audit('scim.user_deactivated');
    expect(deactivated.actor).toBe('scim:entra');
    expect(await audit('developer.blocked')).toEqual([{ actor: 'scim:entra', developer_id: deactivated.developer_id }]);
    expect((await audit('portal.developer_deactivated')).map((e) => e.developer_id)).toEqual([
      deactivated.developer_id,
    ]);

    const on = await entra('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'Replace', path: 'active', value: 'True' }],
    });
    expectUser(on.body, { active: true });
    expect(await portalActive('alice@acme.example', true)).toBe(true);
    expect(await login('alice')).toContain('/sso?nonce=');

    expect((await entra('DELETE', `/Users/${id}`)).status).toBe(204);
    const gone = await entra('GET', `/Users/${id}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ schemas: [ERROR], status: '404' });
    expect(await login('alice')).toContain('error=developer_blocked');
    expect(await audit('scim.user_deleted')).toHaveLength(1);
  });

  it('should provision, replace and patch the way Okta does (matched by verified email)', async () => {
    expectList((await okta('GET', `${filter('userName eq "bob@acme.example"')}&startIndex=1&count=100`)).body, 0);
    const user = {
      schemas: [USER],
      userName: 'bob@acme.example',
      name: { givenName: 'Bob', familyName: 'Baker' },
      emails: [{ primary: true, value: 'bob@acme.example', type: 'work' }],
      displayName: 'Bob Baker',
      locale: 'en-US',
      active: true,
    };
    const created = await okta('POST', '/Users', user);
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expectList((await okta('GET', filter('emails[type eq "work"].value eq "bob@acme.example"'))).body, 1);
    expect(await login('bob')).toContain('/sso?nonce=');

    // Okta deactivates with a PUT of the whole user, and reactivates with a path-less PATCH.
    const replaced = await okta('PUT', `/Users/${id}`, { ...user, id, active: false });
    expectUser(replaced.body, { active: false, displayName: 'Bob Baker' });
    expect(await login('bob')).toContain('error=developer_blocked');
    expect(await portalActive('bob@acme.example', false)).toBe(false);

    const patched = await okta('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', value: { active: true } }],
    });
    expectUser(patched.body, { active: true });
    expect(await login('bob')).toContain('/sso?nonce=');
    expect((await audit('scim.user_reactivated')).map((e) => e.actor)).toEqual(['scim:entra', 'scim:okta']);
  });

  it('should refuse the first login of a user provisioned inactive', async () => {
    const created = await entra('POST', '/Users', {
      schemas: [USER],
      userName: 'carol@globex.example',
      externalId: 'carol',
      active: false,
    });
    expect(created.status).toBe(201);
    expect(await login('carol')).toContain('error=developer_blocked');
  });

  it('should answer paging, uniqueness and unknown ids as SCIM says', async () => {
    const page = await entra('GET', '/Users?startIndex=2&count=1');
    expectList(page.body, 2); // bob and carol (alice was deleted)
    expect(page.body).toMatchObject({ startIndex: 2, itemsPerPage: 1 });
    const dup = await entra('POST', '/Users', { schemas: [USER], userName: 'BOB@acme.example' });
    expect(dup.body).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'uniqueness' });
    expect((await entra('GET', '/Users/not-a-uuid')).status).toBe(404);
  });

  it('should answer 409 uniqueness, not a 500, when a concurrent create takes the userName first', async () => {
    // The service checks the userName, then inserts: another transaction can commit the same
    // userName in between (an IdP retrying its create). Held open here until the broker's INSERT
    // waits on it, so the unique index, not the check, refuses the broker's row.
    const rival = new pg.Client({ connectionString: stack.db.url });
    await rival.connect();
    try {
      await rival.query('BEGIN');
      await rival.query(`INSERT INTO scim_users (user_name) VALUES ('race@acme.example')`);
      const pending = entra('POST', '/Users', { schemas: [USER], userName: 'Race@acme.example' });
      for (;;) {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO scim_users%'`,
        );
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await rival.query('COMMIT');
      const res = await pending;
      expect(res).toMatchObject({ status: 409, body: { schemas: [ERROR], status: '409', scimType: 'uniqueness' } });
      expect(res.type).toMatch(/^application\/scim\+json/);
    } finally {
      await rival.end();
    }
    expectList((await entra('GET', filter('userName eq "race@acme.example"'))).body, 1);
  });

  it('should answer bad input with SCIM errors, never a 5xx', async () => {
    const id = (await entra('GET', filter('userName eq "bob@acme.example"'))).body.Resources[0].id as string;
    const cases: [string, string, unknown, number, string | undefined][] = [
      ['GET', filter('userName eq'), undefined, 400, 'invalidFilter'],
      ['GET', filter('userName co "a"'), undefined, 400, 'invalidFilter'],
      ['GET', filter('title eq "x"'), undefined, 400, 'invalidFilter'],
      ['GET', filter('userName eq "a" or userName eq "b"'), undefined, 400, 'invalidFilter'],
      ['GET', filter('x'.repeat(2000)), undefined, 400, 'invalidFilter'],
      ['GET', '/Users?filter=a&filter=b', undefined, 400, 'invalidFilter'],
      // Postgres refuses a NUL in text (22021): the client's fault, not a 500.
      ['GET', filter('userName eq "\\u0000"'), undefined, 400, 'invalidValue'],
      ['GET', filter('externalId eq "a" and emails.value eq "\\u0000"'), undefined, 400, 'invalidValue'],
      ['GET', '/Users?count=abc', undefined, 400, 'invalidValue'],
      ['POST', '/Users', { schemas: [USER] }, 400, 'invalidValue'],
      ['POST', '/Users', { schemas: [USER], userName: 42 }, 400, 'invalidValue'],
      ['POST', '/Users', { schemas: [USER], userName: 'x@y.z', active: 5 }, 400, 'invalidValue'],
      ['POST', '/Users', { schemas: [USER], userName: 'x@y.z', shoeSize: 44 }, 400, 'invalidSyntax'],
      ['POST', '/Users', { userName: 'x@y.z' }, 400, 'invalidSyntax'],
      ['POST', '/Users', [1, 2], 400, 'invalidSyntax'],
      ['POST', '/Users', '{"schemas": [', 400, 'invalidSyntax'],
      ['POST', '/Users', { schemas: [USER], userName: 'x'.repeat(70_000) }, 413, undefined],
      ['POST', '/Users', { schemas: [USER], userName: 'nul\u0000@y.z' }, 400, 'invalidValue'],
      [
        'PATCH',
        `/Users/${id}`,
        { schemas: [PATCH], Operations: [{ op: 'replace', path: 'shoeSize', value: 1 }] },
        400,
        'invalidPath',
      ],
      [
        'PATCH',
        `/Users/${id}`,
        { schemas: [PATCH], Operations: [{ op: 'move', path: 'active' }] },
        400,
        'invalidSyntax',
      ],
      ['PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'remove' }] }, 400, 'noTarget'],
      [
        'PATCH',
        `/Users/${id}`,
        { schemas: [PATCH], Operations: [{ op: 'remove', path: 'userName' }] },
        400,
        'mutability',
      ],
      [
        'PATCH',
        `/Users/${id}`,
        { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: 'maybe' }] },
        400,
        'invalidValue',
      ],
      ['PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [] }, 400, 'invalidSyntax'],
      ['PATCH', `/Users/${id}`, { Operations: [{ op: 'replace', value: { active: true } }] }, 400, 'invalidSyntax'],
      ['PATCH', `/Users/${id}`, { schemas: [PATCH], Operations: [{ op: 'replace', value: 'x' }] }, 400, 'invalidValue'],
      ['PUT', '/Users/00000000-0000-4000-8000-000000000000', { schemas: [USER], userName: 'q@y.z' }, 404, undefined],
    ];
    for (const [method, path, body, status, scimType] of cases) {
      const res = await entra(method, path, body);
      expect({ method, path: path.slice(0, 80), status: res.status }).toEqual({
        method,
        path: path.slice(0, 80),
        status,
      });
      expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status) });
      if (scimType) expect(res.body.scimType).toBe(scimType);
      expect(res.type).toMatch(/^application\/scim\+json/);
    }
    const wrongType = await scim(ENTRA_TOKEN, 'POST', '/Users', 'userName=x', 'application/x-www-form-urlencoded');
    expect(wrongType).toMatchObject({ status: 415, body: { schemas: [ERROR] } });
    const noToken = await scim('not-a-configured-token-0000000000000000', 'GET', '/Users');
    expect(noToken).toMatchObject({ status: 401, body: { schemas: [ERROR], status: '401' } });
  });

  it('should commit no SCIM change whose audit event could not be written', async () => {
    const created = await entra('POST', '/Users', { schemas: [USER], userName: 'erin@acme.example', active: true });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    // The audit store refuses the change events (as a full disk or a lost connection would).
    await asSuperuser(stack.db, (c) =>
      c.query(`CREATE FUNCTION test_refuse_scim_audit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit store refuses %', NEW.type; END $$;
        CREATE TRIGGER test_refuse_scim_audit BEFORE INSERT ON audit_events FOR EACH ROW
          WHEN (NEW.type IN ('scim.user_created', 'scim.user_updated', 'scim.user_deleted'))
          EXECUTE FUNCTION test_refuse_scim_audit()`),
    );
    try {
      expect((await entra('POST', '/Users', { schemas: [USER], userName: 'dana@acme.example' })).status).toBe(500);
      const off = { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] };
      expect((await entra('PATCH', `/Users/${id}`, off)).status).toBe(500);
      expect((await entra('DELETE', `/Users/${id}`)).status).toBe(500);
    } finally {
      await asSuperuser(stack.db, (c) =>
        c.query('DROP TRIGGER test_refuse_scim_audit ON audit_events; DROP FUNCTION test_refuse_scim_audit()'),
      );
    }
    // Nothing of the refused changes is left, so the IdP's retries succeed (no 409 for a user it never got).
    expectList((await entra('GET', filter('userName eq "dana@acme.example"'))).body, 0);
    expectUser((await entra('GET', `/Users/${id}`)).body, { active: true });
    expect((await entra('POST', '/Users', { schemas: [USER], userName: 'dana@acme.example' })).status).toBe(201);
    expect((await entra('DELETE', `/Users/${id}`)).status).toBe(204);
  });

  it("should never link a login of another IdP to a scoped client's user, nor let that client act on others", async () => {
    const elsewhere = (method: string, path: string, body?: unknown) => scim(ELSEWHERE_TOKEN, method, path, body);
    // Provisioned inactive by the other IdP's client for its own frank (same subject and email).
    const created = await elsewhere('POST', '/Users', {
      schemas: [USER],
      userName: 'frank@other-idp.example',
      externalId: 'frank',
      emails: [{ value: 'frank@freelance.example', type: 'work', primary: true }],
      active: false,
    });
    expect(created.status).toBe(201);
    // The dev IdP's frank is not that client's developer: signed in, and the user stays unlinked.
    expect(await login('frank')).toContain('/sso?nonce=');
    const { rows } = await db.query<{ developer_id: string | null }>(
      'SELECT developer_id::text FROM scim_users WHERE id = $1',
      [created.body.id],
    );
    expect(rows).toEqual([{ developer_id: null }]);
    // Nor can it reach a user of another client, linked to a developer of the dev IdP.
    const carol = (await entra('GET', filter('userName eq "carol@globex.example"'))).body.Resources[0].id as string;
    expect((await elsewhere('GET', `/Users/${carol}`)).status).toBe(404);
    expect((await elsewhere('DELETE', `/Users/${carol}`)).status).toBe(404);
    // Its list: its own user (and an unlinked one of no recorded client, made by the race test above).
    const names = (await elsewhere('GET', '/Users')).body.Resources.map((r: { userName: string }) => r.userName);
    expect(names).toContain('frank@other-idp.example');
    expect(names).not.toContain('carol@globex.example');
    expect((await elsewhere('DELETE', `/Users/${created.body.id}`)).status).toBe(204);
  });

  it("should have the doctor warn about a scoped client whose issuer is no profile's", async () => {
    const res = await fetch(`${stack.broker.url}/api/profiles/guide/check`, {
      headers: { Authorization: ADMIN_SECRET },
    });
    const items = ((await res.json()) as { Data: { items: { check: string; status: string; detail: string }[] } }).Data
      .items;
    expect(items.filter((i) => i.check === 'SCIM scope')).toEqual([
      expect.objectContaining({
        status: 'warn',
        detail: expect.stringContaining('SCIM client elsewhere is scoped to'),
      }),
    ]);
  });

  it('should audit every SCIM call with the label, never the token', async () => {
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events WHERE type LIKE 'scim.%' AND actor IN ('scim:entra', 'scim:okta')`,
    );
    expect(rows[0].n).toBeGreaterThan(10);
    const leaks = await db.query(
      `SELECT id FROM audit_events WHERE audit_events::text LIKE $1 OR audit_events::text LIKE $2`,
      [`%${ENTRA_TOKEN}%`, `%${OKTA_TOKEN}%`],
    );
    expect(leaks.rows).toEqual([]);
    expect(stack.broker.logs.text()).not.toContain(ENTRA_TOKEN);
  });
});
