import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import pg from 'pg';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';

const SECRET = 'profiles-admin-secret-42';
const FIXTURE = JSON.parse(readFileSync(new URL('../fixtures/tib/profiles.json', import.meta.url), 'utf8')) as Record<
  string,
  unknown
>[];

const profile = (id: string, over: Record<string, unknown> = {}) => ({
  ID: id,
  Name: `Profile ${id}`,
  OrgID: '0',
  ActionType: 'GenerateOrLoginDeveloperProfile',
  ProviderName: 'SocialProvider',
  ProviderConfig: {
    CallbackBaseURL: 'http://localhost:3010',
    FailureRedirect: 'http://localhost:3001/?fail=true',
    UseProviders: [
      {
        Name: 'openid-connect',
        Key: 'client-id',
        Secret: 'client-secret-value-9',
        DiscoverURL: 'http://127.0.0.1:1/.well-known/openid-configuration',
      },
    ],
  },
  IdentityHandlerConfig: { DashboardCredential: 'portal-api-secret-value-7' },
  ReturnURL: 'http://localhost:3001/sso',
  ...over,
});

describe('/api/profiles (TIB admin API, e2e on real Postgres)', () => {
  let db: TestDatabase;
  let broker: TestBroker;
  let second: TestBroker | undefined;
  const api = (path: string, init: RequestInit & { auth?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    if (init.auth !== null) headers.set('Authorization', init.auth ?? SECRET);
    return fetch(`${broker.url}/api/profiles${path}`, { ...init, headers });
  };
  const json = (body: unknown, method = 'POST', extra: Record<string, string> = {}) => ({
    method,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...extra },
  });

  beforeAll(async () => {
    db = await createTestDatabase('profiles');
    broker = await startTestBroker(testConfig({ DATABASE_URL: db.url, TYK_IB_SECRET: SECRET, TYK_LOGLEVEL: 'debug' }));
  });

  afterAll(async () => {
    await second?.close();
    await broker?.close();
    await db?.drop();
  });

  it('should refuse a missing or wrong secret with TIB 401 body', async () => {
    for (const auth of [null, 'wrong', `Bearer wrong`]) {
      const res = await api('', { auth });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ Status: 'error', Error: 'Authorization failed' });
    }
  });

  it('should accept the secret raw and as a Bearer token', async () => {
    for (const auth of [SECRET, `Bearer ${SECRET}`]) {
      const res = await api('', { auth });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ Status: 'ok', ID: '', Data: [] });
    }
  });

  it('should create (201), read, list sorted, update (200) and delete (200) with TIB envelopes', async () => {
    const created = await api('/b', json(profile('b')));
    expect(created.status).toBe(201);
    const body = (await created.json()) as { Status: string; ID: string; Data: Record<string, unknown> };
    expect(body.Status).toBe('ok');
    expect(body.ID).toBe('b');
    expect(body.Data.ID).toBe('b');
    expect(created.headers.get('etag')).toBe('"1"');
    expect((await api('/a', json(profile('a')))).status).toBe(201);

    const list = (await (await api('')).json()) as { Data: { ID: string }[] };
    expect(list.Data.map((p) => p.ID)).toEqual(['a', 'b']);

    const got = await api('/a');
    expect(got.status).toBe(200);
    expect(((await got.json()) as { ID: string }).ID).toBe('a');

    const updated = await api('/a', json(profile('a', { Name: 'Renamed' }), 'PUT'));
    expect(updated.status).toBe(200);
    expect(((await updated.json()) as { Data: { Name: string } }).Data.Name).toBe('Renamed');
    expect(updated.headers.get('etag')).toBe('"2"');

    const deleted = await api('/b', { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toEqual({ Status: 'ok', ID: 'b', Data: {} });
    expect((await api('/b')).status).toBe(404);
  });

  it.each([
    ['GET unknown', '/nope', {}, 404, 'Profile not found'],
    ['PUT unknown', '/nope', json(profile('nope'), 'PUT'), 404, 'Object ID does not exist, operation not permitted'],
    ['DELETE unknown', '/nope', { method: 'DELETE' }, 404, 'Object ID does not exist'],
    ['bad JSON', '/x', json('{"ID": "x",'), 400, 'Failed to decode body data'],
    ['empty body', '/x', { method: 'POST' }, 400, 'Failed to decode body data'],
    ['ID mismatch', '/x', json(profile('y')), 400, 'Object ID and URI resource ID do not match'],
    // Go decodes every key that folds to ID into the one field, the last one winning: TIB compares
    // (and stores) that one, so this body names profile y, not x.
    ['ID and a later id', '/x', json({ ...profile('x'), id: 'y' }), 400, 'Object ID and URI resource ID do not match'],
    // Go's json.Unmarshal into TIB's Profile struct fails before the ID comparison.
    ['an array body', '/x', json([profile('x')]), 400, 'Failed to decode body data'],
    ['a number body', '/x', json(5), 400, 'Failed to decode body data'],
    ['a string body', '/x', json('"x"'), 400, 'Failed to decode body data'],
    ['a numeric ID', '/x', json({ ...profile('x'), ID: 5 }), 400, 'Failed to decode body data'],
    ['a numeric id in another case', '/x', json({ ...profile('x'), id: 5 }), 400, 'Failed to decode body data'],
    ['a null body (the zero profile)', '/x', json('null'), 400, 'Object ID and URI resource ID do not match'],
    [
      'ID missing',
      '/x',
      json({ ActionType: 'GenerateOrLoginDeveloperProfile' }),
      400,
      'Object ID and URI resource ID do not match',
    ],
  ])('should answer %s with TIB status and message', async (_name, path, init, status, message) => {
    const res = await api(path, init);
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ Status: 'error', Error: message });
  });

  it('should answer in TIB envelope on the profiles API whatever the case of its path (the routing ignores case)', async () => {
    const res = await fetch(`${broker.url}/API/Profiles/nope`, { headers: { Authorization: SECRET } });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ Status: 'error', Error: 'Profile not found' });
  });

  it('should read the ID as Go does: a later null id changes nothing, a later string id is the ID', async () => {
    const created = await api('/nullid', json({ ...profile('nullid'), id: null }));
    expect(created.status).toBe(201);
    expect(((await created.json()) as { ID: string }).ID).toBe('nullid');
    expect((await api('/y')).status).toBe(404);
  });

  it("should escape <, > and & in its JSON as Go's json.Marshal does (TIB's answers, byte for byte)", async () => {
    const created = await api('/esc', json(profile('esc', { Name: 'a<b>&c', ReturnURL: 'http://portal/sso?a=1&b=2' })));
    expect(created.status).toBe(201);
    const text = await (await api('/esc')).text();
    expect(text).toContain('"Name":"a\\u003cb\\u003e\\u0026c"');
    expect(text).toContain('"ReturnURL":"http://portal/sso?a=1\\u0026b=2"');
    expect((JSON.parse(text) as { Data: { Name: string } }).Data.Name).toBe('a<b>&c');
  });

  it('should refuse an existing ID with 400 "Object ID already exists"', async () => {
    expect((await api('/dup', json(profile('dup')))).status).toBe(201);
    const again = await api('/dup', json(profile('dup')));
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ Status: 'error', Error: 'Object ID already exists' });
  });

  it('should refuse invalid profiles with 400 naming the field path, and store nothing', async () => {
    const res = await api('/bad', json(profile('bad', { ActionType: 'Hack', ReturnURL: 'javascript:alert(1)' })));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { Status: string; Error: string };
    expect(body.Status).toBe('error');
    expect(body.Error).toMatch(/ActionType: must be one of/);
    expect(body.Error).toMatch(/ReturnURL: must be an http\(s\) URL/);
    expect((await api('/bad')).status).toBe(404);
  });

  it('should refuse a DashboardCredential that cannot be sent as a header with 400 naming it, and store nothing', async () => {
    for (const [id, credential] of [
      ['crlf', 'secret\r\nX-Injected: 1'],
      ['latin', 'caf\u00e9-secret'],
      ['wide', 'secret-\u2603'],
      ['del', 'secret\u007f'],
    ]) {
      const res = await api(
        `/${id}`,
        json(profile(id, { IdentityHandlerConfig: { DashboardCredential: credential } })),
      );
      expect(res.status).toBe(400);
      const body = (await res.json()) as { Status: string; Error: string };
      expect(body).toEqual({
        Status: 'error',
        Error: expect.stringMatching(/IdentityHandlerConfig\.DashboardCredential: must be printable ASCII/),
      });
      expect(body.Error).not.toContain('secret');
      expect((await api(`/${id}`)).status).toBe(404);
    }
    // Spaces and tabs inside are fine (e.g. "Bearer <token>").
    const ok = await api(
      '/spaced',
      json(profile('spaced', { IdentityHandlerConfig: { DashboardCredential: 'Bearer\tabc def' } })),
    );
    expect(ok.status).toBe(201);
  });

  it('should accept a body sent as curl -d does (form-urlencoded), as octet-stream or a +json type, and refuse other content types with 415', async () => {
    const res = await api('/curl', {
      method: 'POST',
      body: JSON.stringify(profile('curl')),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(201);
    for (const [id, type] of [
      ['octet', 'application/octet-stream'],
      ['vnd', 'application/vnd.api+json; charset=utf-8'],
    ]) {
      const other = await api(`/${id}`, {
        method: 'POST',
        body: JSON.stringify(profile(id)),
        headers: { 'Content-Type': type },
      });
      expect(other.status).toBe(201);
    }
    const xml = await api('/xml', {
      method: 'POST',
      body: '<profile/>',
      headers: { 'Content-Type': 'application/xml' },
    });
    expect(xml.status).toBe(415);
    expect(((await xml.json()) as { Status: string }).Status).toBe('error');
  });

  it('should answer every route and status with Content-Type application/json exactly, as TIB tests assert', async () => {
    const answers: [string, Response, number][] = [
      ['list', await api(''), 200],
      ['unauthenticated', await api('', { auth: null }), 401],
      ['wrong secret', await api('/ct', { auth: 'wrong' }), 401],
      ['create', await api('/ct', json(profile('ct'))), 201],
      ['create again', await api('/ct', json(profile('ct'))), 400],
      ['id mismatch', await api('/ct2', json(profile('other'))), 400],
      ['bad JSON', await api('/ct2', json('{nope')), 400],
      [
        'unsupported type',
        await api('/ct2', { method: 'POST', body: '<p/>', headers: { 'Content-Type': 'application/xml' } }),
        415,
      ],
      ['get', await api('/ct'), 200],
      ['get missing', await api('/ct-missing'), 404],
      ['update', await api('/ct', json(profile('ct', { Name: 'renamed' }), 'PUT')), 200],
      ['update stale', await api('/ct', json(profile('ct'), 'PUT', { 'If-Match': '"999"' })), 409],
      ['update missing', await api('/ct-missing', json(profile('ct-missing'), 'PUT')), 404],
      ['delete', await api('/ct', { method: 'DELETE' }), 200],
      ['delete missing', await api('/ct', { method: 'DELETE' }), 404],
      ['too large', await api('/big', json({ ...profile('big'), Name: 'x'.repeat(2 * 1024 * 1024) })), 413],
      ['unknown route', await api('/ct/a/b'), 404],
    ];
    for (const [what, res, status] of answers) {
      expect({ what, status: res.status, type: res.headers.get('content-type') }).toEqual({
        what,
        status,
        type: 'application/json',
      });
      expect(((await res.json()) as { Status: string }).Status).toBe(status < 300 ? 'ok' : 'error');
    }
  });

  it('should read lower- and mixed-case top-level keys, answering in TIB casing and order', async () => {
    const sent = {
      id: 'mixed',
      actiontype: 'GenerateOrLoginDeveloperProfile',
      ProviderNAME: 'SocialProvider',
      providerconfig: {
        callbackbaseurl: 'http://localhost:3010',
        useproviders: [
          {
            name: 'openid-connect',
            key: 'k',
            discoverurl: 'https://idp/.well-known/openid-configuration',
            Custom: 'kept',
          },
        ],
      },
      returnurl: 'http://localhost:3001/sso',
      Unknown: 'dropped',
    };
    expect((await api('/mixed', json(sent))).status).toBe(201);
    const got = (await (await api('/mixed')).json()) as { Data: Record<string, unknown> };
    expect(Object.keys(got.Data)).toEqual([
      'ID',
      'Name',
      'OrgID',
      'ActionType',
      'MatchedPolicyID',
      'Type',
      'ProviderName',
      'CustomEmailField',
      'CustomUserIDField',
      'ProviderConfig',
      'IdentityHandlerConfig',
      'ProviderConstraints',
      'ReturnURL',
      'DefaultUserGroupID',
      'CustomUserGroupField',
      'UserGroupMapping',
      'UserGroupSeparator',
      'SSOOnlyForRegisteredUsers',
    ]);
    // ProviderConfig is TIB's free-form value: kept as sent (see the byte-for-byte test below).
    expect(got.Data.ProviderConfig).toEqual(sent.providerconfig);
    expect(got.Data.IdentityHandlerConfig).toBeNull();
    expect(got.Data.UserGroupMapping).toBeNull();
  });

  it('should store and serve ProviderConfig and IdentityHandlerConfig byte for byte as sent, through POST, GET, PUT and list', async () => {
    const providerConfig = {
      callbackBaseURL: 'http://localhost:3010',
      useProviders: [
        {
          name: 'openid-connect',
          key: 'lower-client',
          secret: 'lower-secret-value-31',
          discoverURL: 'https://idp/.well-known/openid-configuration',
          Key: 'second-spelling-kept',
        },
      ],
      zLast: { B: 1, a: 2 },
      FailureRedirect: 'http://localhost:3001/?fail=true',
    };
    const handler = { dashboardcredential: 'lower-credential-value-32', Custom: [1, 'x'] };
    const body = (pc: unknown) =>
      profile('verbatim', { ProviderConfig: pc, IdentityHandlerConfig: handler, Name: 'Verbatim' });
    const asSent = (text: string, pc: unknown) => {
      expect(text).toContain(`"ProviderConfig":${JSON.stringify(pc)}`);
      expect(text).toContain(`"IdentityHandlerConfig":${JSON.stringify(handler)}`);
    };
    const created = await api('/verbatim', json(body(providerConfig)));
    expect(created.status).toBe(201);
    asSent(await created.text(), providerConfig);
    asSent(await (await api('/verbatim')).text(), providerConfig);

    const changed = {
      ...providerConfig,
      useProviders: [{ ...providerConfig.useProviders[0], secret: 'lower-secret-value-33' }],
    };
    const updated = await api('/verbatim', json(body(changed), 'PUT'));
    expect(updated.status).toBe(200);
    asSent(await updated.text(), changed);
    asSent(await (await api('/verbatim')).text(), changed);
    asSent(await (await api('')).text(), changed);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const stored = await client.query<{ document_text: string; pc: unknown }>(
        "SELECT document_text, document->'ProviderConfig' AS pc FROM profiles WHERE id = 'verbatim'",
      );
      asSent(stored.rows[0].document_text, changed);
      expect(stored.rows[0].pc).toEqual(changed);
      // The audit diff masks secrets whatever the case of their key, as sent.
      const audit = await client.query<{ details: unknown }>(
        "SELECT details FROM audit_events WHERE target = 'profile:verbatim' ORDER BY id",
      );
      const text = JSON.stringify(audit.rows);
      expect(audit.rows).toHaveLength(2);
      for (const secret of [
        'lower-secret-value-31',
        'lower-secret-value-33',
        'lower-credential-value-32',
        'lower-client',
      ]) {
        expect(text).not.toContain(secret);
      }
      expect(text).toContain('"secret":"********"');
      expect(text).toContain('"dashboardcredential":"********"');
      expect(text).toContain('ProviderConfig.useProviders');
    } finally {
      await client.end();
    }
  });

  it('should create the integration guide fixture profile unchanged', async () => {
    const fixture = FIXTURE[0] as { ID: string };
    const res = await api(`/${fixture.ID}`, json(fixture));
    expect(res.status).toBe(201);
    const data = ((await res.json()) as { Data: Record<string, unknown> }).Data;
    expect(data.ProviderConfig).toEqual(FIXTURE[0].ProviderConfig);
  });

  it('should refuse a lost update: PUT with a stale If-Match is 409 and changes nothing', async () => {
    expect((await api('/locked', json(profile('locked')))).status).toBe(201);
    expect(
      (await api('/locked', json(profile('locked', { Name: 'first' }), 'PUT', { 'If-Match': '"1"' }))).status,
    ).toBe(200);
    const stale = await api('/locked', json(profile('locked', { Name: 'second' }), 'PUT', { 'If-Match': '"1"' }));
    expect(stale.status).toBe(409);
    const now = (await (await api('/locked')).json()) as { Data: { Name: string } };
    expect(now.Data.Name).toBe('first');
  });

  it('should audit every change with the actor and a diff that masks secrets', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ type: string; actor: string; target: string; details: unknown }>(
        "SELECT type, actor, target, details FROM audit_events WHERE target IN ('profile:a', 'profile:b') ORDER BY id",
      );
      expect(rows.map((r) => `${r.type} ${r.target}`)).toEqual([
        'profile.created profile:b',
        'profile.created profile:a',
        'profile.updated profile:a',
        'profile.deleted profile:b',
      ]);
      expect(rows.every((r) => r.actor === 'admin:tib-secret')).toBe(true);
      const text = JSON.stringify(rows);
      expect(text).toContain('Renamed');
      expect(text).not.toContain('client-secret-value-9');
      expect(text).not.toContain('portal-api-secret-value-7');
      expect(text).toContain('********');
    } finally {
      await client.end();
    }
  });

  it('should never answer 5xx nor store an invalid profile, whatever JSON or text is thrown at POST and PUT', async () => {
    const before = ((await (await api('')).json()) as { Data: unknown[] }).Data.length;
    let created = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.json(),
          fc.string(),
          fc.record({
            ID: fc.constant('fuzz'),
            ActionType: fc.string(),
            ProviderName: fc.constantFrom('SocialProvider', 'ADProvider', 'x'),
            ProviderConfig: fc.anything(),
          }),
          fc.dictionary(fc.string(), fc.jsonValue()),
        ),
        fc.constantFrom('POST', 'PUT'),
        async (body, method) => {
          const res = await api('/fuzz', {
            method,
            body: typeof body === 'string' ? body : JSON.stringify(body),
            headers: { 'Content-Type': 'application/json' },
          });
          expect(res.status).toBeLessThan(500);
          if (res.status === 201) created++;
          if (res.status === 201 || res.status === 200) {
            await api('/fuzz', { method: 'DELETE' });
          }
        },
      ),
      { numRuns: 300, seed: 42 },
    );
    const after = ((await (await api('')).json()) as { Data: unknown[] }).Data.length;
    expect(after).toBe(before);
    expect(created).toBeGreaterThanOrEqual(0);
  });

  it('should serve a change made through one instance from another within a second', async () => {
    second = await startTestBroker(testConfig({ DATABASE_URL: db.url, TYK_IB_SECRET: SECRET }));
    const { ProfilesService } = await import('@app/profiles');
    const otherCache = second.app.get(ProfilesService);
    expect(otherCache.cached('shared')).toBeUndefined();
    const started = Date.now();
    expect((await api('/shared', json(profile('shared', { Name: 'v1' })))).status).toBe(201);
    while (!otherCache.cached('shared') && Date.now() - started < 1000) await new Promise((r) => setTimeout(r, 20));
    expect(otherCache.cached('shared')?.profile.Name).toBe('v1');
    await api('/shared', json(profile('shared', { Name: 'v2' }), 'PUT'));
    const t2 = Date.now();
    while (otherCache.cached('shared')?.profile.Name !== 'v2' && Date.now() - t2 < 1000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(otherCache.cached('shared')?.profile.Name).toBe('v2');
    await api('/shared', { method: 'DELETE' });
    const t3 = Date.now();
    while (otherCache.cached('shared') && Date.now() - t3 < 1000) await new Promise((r) => setTimeout(r, 20));
    expect(otherCache.cached('shared')).toBeUndefined();
  });

  it('should read a profile it has no notification for from the database once, and remember a miss for a second', async () => {
    second ??= await startTestBroker(testConfig({ DATABASE_URL: db.url, TYK_IB_SECRET: SECRET }));
    const { ProfilesService } = await import('@app/profiles');
    const otherCache = second.app.get(ProfilesService);
    // Rows written without a notification: what an instance sees when the notification is late.
    const insertQuietly = async (id: string, name: string) => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const doc = JSON.stringify(profile(id, { Name: name }));
        await client.query(
          `INSERT INTO profiles (id, action_type, provider_name, document, document_text) VALUES ($1, $2, $3, $4::jsonb, $4)`,
          [id, 'GenerateOrLoginDeveloperProfile', 'SocialProvider', doc],
        );
      } finally {
        await client.end();
      }
    };
    await insertQuietly('quiet', 'Quiet');
    expect(otherCache.cached('quiet')).toBeUndefined();
    expect((await otherCache.cachedOrLoad('quiet'))?.profile.Name).toBe('Quiet');
    expect(otherCache.cached('quiet')?.profile.Name).toBe('Quiet');

    // An unknown id is looked up once; created right after, it is found once the second is over.
    expect(await otherCache.cachedOrLoad('late')).toBeUndefined();
    await insertQuietly('late', 'Late');
    expect(await otherCache.cachedOrLoad('late')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1100));
    expect((await otherCache.cachedOrLoad('late'))?.profile.Name).toBe('Late');
    // What is not a profile id is never looked up (a NUL, a lone surrogate, a megabyte, a quote),
    // and /health/ready answers meanwhile.
    const [health, ...hostile] = await Promise.all([
      fetch(`${second.url}/health/ready`),
      ...["x' OR '1'='1", 'a\u0000b', 'a\ud800b', 'a'.repeat(1024 * 1024), 'a'.repeat(129)].map((id) =>
        otherCache.cachedOrLoad(id),
      ),
    ]);
    expect(health.status).toBe(200);
    expect(hostile).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it('should not log the admin secret sent in the Authorization header', () => {
    expect(broker.logs.lines.length).toBeGreaterThan(0);
    expect(broker.logs.text()).not.toContain(SECRET);
  });
});

describe('/api/profiles with no secret configured', () => {
  let db: TestDatabase;
  let broker: TestBroker;
  beforeAll(async () => {
    db = await createTestDatabase('nosecret');
    broker = await startTestBroker(testConfig({ DATABASE_URL: db.url }));
  });
  afterAll(async () => {
    await broker?.close();
    await db?.drop();
  });

  it('should answer 503 saying how to enable it, even with no Authorization header (TIB lets that in)', async () => {
    for (const headers of [{}, { Authorization: '' }] as Record<string, string>[]) {
      const res = await fetch(`${broker.url}/api/profiles`, { headers });
      expect(res.status).toBe(503);
      expect(res.headers.get('content-type')).toBe('application/json');
      const body = (await res.json()) as { Status: string; Error: string };
      expect(body.Status).toBe('error');
      expect(body.Error).toMatch(/TYK_IB_SECRET/);
    }
  });
});
