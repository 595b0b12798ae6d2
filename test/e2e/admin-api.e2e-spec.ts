import pg from 'pg';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import {
  ADMIN_SECRET,
  devIdpToken,
  guideProfile,
  hop,
  putProfile,
  startStack,
  type Stack,
} from '@test/support/stack.js';

describe('admin API for security teams: roles, audit queries, developers, metrics, docs (e2e)', () => {
  let stack: Stack;
  let adminToken: string;
  let auditorToken: string;

  const call = (path: string, auth: string, init: RequestInit = {}) =>
    fetch(`${stack.broker.url}${path}`, {
      ...init,
      headers: { Authorization: auth, 'Content-Type': 'application/json', ...(init.headers as object) },
    });

  async function login(account: string): Promise<string> {
    const start = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
    const cookie = start.res.headers.getSetCookie()[0].split(';')[0];
    const callback = await loginWithDevIdp(start.location, account);
    return (await hop(callback, { headers: { cookie } })).location;
  }

  beforeAll(async () => {
    stack = await startStack({ adminTokens: true, env: { BROKER_AUDIT_SEAL_INTERVAL_MS: '100' } });
    await putProfile(stack, guideProfile(stack, 'guide'));
    adminToken = await devIdpToken(stack, 'broker-admin');
    auditorToken = await devIdpToken(stack, 'broker-auditor');
    // Some history: two good logins in acme, failures in globex.
    expect(await login('alice')).toContain('/sso?nonce=');
    expect(await login('bob')).toContain('/sso?nonce=');
    for (let i = 0; i < 3; i++) expect(await login('dave')).toContain('error=email_unverified');
    expect(await login('carol')).toContain('/sso?nonce=');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('should let an auditor token read the audit log and developers, and nothing else', async () => {
    expect((await call('/api/audit/events', `Bearer ${auditorToken}`)).status).toBe(200);
    expect((await call('/api/developers', `Bearer ${auditorToken}`)).status).toBe(200);
    const profiles = await call('/api/profiles', `Bearer ${auditorToken}`);
    expect(profiles.status).toBe(403);
    const dev = (
      (await (await call('/api/developers?email=alice@acme.example', `Bearer ${auditorToken}`)).json()) as {
        data: { id: string }[];
      }
    ).data[0];
    const patch = await call(`/api/developers/${dev.id}`, `Bearer ${auditorToken}`, {
      method: 'PATCH',
      body: JSON.stringify({ status: 'blocked' }),
    });
    expect(patch.status).toBe(403);
    expect(((await (await call(`/api/developers/${dev.id}`, ADMIN_SECRET)).json()) as { status: string }).status).toBe(
      'active',
    );
  });

  it('should let an admin token change things, audited with its principal', async () => {
    expect((await call('/api/profiles', `Bearer ${adminToken}`)).status).toBe(200);
    const dev = (
      (await (await call('/api/developers?email=bob@acme.example', `Bearer ${adminToken}`)).json()) as {
        data: { id: string }[];
      }
    ).data[0];
    const patch = await call(`/api/developers/${dev.id}`, `Bearer ${adminToken}`, {
      method: 'PATCH',
      body: JSON.stringify({ status: 'blocked' }),
    });
    expect(patch.status).toBe(200);
    const events = (await (
      await call('/api/audit/events?type=developer.blocked', `Bearer ${auditorToken}`)
    ).json()) as {
      data: { actor: string; target: string }[];
    };
    expect(events.data[0]?.actor).toBe('admin:broker-admin');
  });

  it('should refuse tokens that are forged, expired-looking garbage or for another audience with 401, and audit the refusal', async () => {
    const [h, p] = auditorToken.split('.');
    const forged = `${h}.${p}.${'A'.repeat(86)}`;
    for (const auth of [`Bearer ${forged}`, 'Bearer not.a.jwt', 'Bearer x', '']) {
      const res = await call('/api/audit/events', auth);
      expect(res.status).toBe(401);
    }
    const refusals = (await (await call('/api/audit/events?type=admin.auth_failed', ADMIN_SECRET)).json()) as {
      data: unknown[];
    };
    expect(refusals.data.length).toBeGreaterThan(0);
  });

  it('should list the failed logins of the last hour for one organisation, page them, export them and verify the log', async () => {
    const since = new Date(Date.now() - 3600_000).toISOString();
    const auth = `Bearer ${auditorToken}`;
    const first = await call(
      `/api/audit/events?type=login.failed&organization=globex&since=${encodeURIComponent(since)}&limit=2`,
      auth,
    );
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as {
      data: { id: string; type: string; reason: string }[];
      next_cursor: string | null;
    };
    expect(page1.data).toHaveLength(2);
    expect(page1.data.every((e) => e.type === 'login.failed' && e.reason === 'email_unverified')).toBe(true);
    expect(first.headers.get('link')).toMatch(/rel="next"/);
    const second = (await (
      await call(
        `/api/audit/events?type=login.failed&organization=globex&since=${encodeURIComponent(since)}&limit=2&cursor=${page1.next_cursor}`,
        auth,
      )
    ).json()) as { data: { id: string }[] };
    expect(second.data).toHaveLength(1);
    expect(new Set([...page1.data, ...second.data].map((e) => e.id)).size).toBe(3);

    const csv = await call(
      `/api/audit/export?format=csv&type=login.failed&organization=globex&since=${encodeURIComponent(since)}`,
      auth,
    );
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    expect((await csv.text()).trim().split('\n')).toHaveLength(4); // header + 3 rows

    await new Promise((r) => setTimeout(r, 600)); // the sealer runs every 100 ms here
    const verify = (await (await call('/api/audit/verify', auth)).json()) as { status: string; count: number };
    expect(verify.status).toBe('intact');
    expect(verify.count).toBeGreaterThan(5);
  });

  it('should run at most BROKER_AUDIT_VERIFY_CONCURRENCY (2) verifies of any kind per instance, refusing more with 409 at once', async () => {
    // Every walk reads audit_events: while the table is locked, each verify that started waits in the
    // database on its pool connection, as a long walk over a large log would.
    const blocker = new pg.Client({ connectionString: stack.db.adminUrl });
    await blocker.connect();
    const answered: Response[] = [];
    let requests: Promise<Response>[];
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE');
      requests = Array.from({ length: 6 }, (_, i) =>
        call(`/api/audit/verify?from_id=1&to_id=${1000 + i}`, `Bearer ${auditorToken}`).then((res) => {
          answered.push(res);
          return res;
        }),
      );
      // The four over the limit are answered while the two admitted still wait.
      for (let waited = 0; answered.length < 4 && waited < 10_000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(answered.map((r) => r.status)).toEqual([409, 409, 409, 409]);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    const all = await Promise.all(requests);
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 409, 409, 409, 409]);
    for (const res of all) {
      const body = (await res.json()) as {
        status?: string;
        mode?: string;
        error?: { code: string; details?: unknown };
      };
      if (res.status === 200) expect(body).toMatchObject({ status: 'intact', mode: 'range' });
      else expect(body.error).toMatchObject({ code: 'verify_running', details: { limit: 2 } });
    }
    // Slots are given back: the next verify runs.
    expect((await call('/api/audit/verify?mode=routine', `Bearer ${auditorToken}`)).status).toBe(200);
  });

  it("should record an on-demand full verify under the caller's role (an auditor is not an admin)", async () => {
    const auth = `Bearer ${auditorToken}`;
    expect((await call('/api/audit/verify?mode=full', auth)).status).toBe(200);
    const page = (await (await call('/api/audit/events?type=audit.verified', auth)).json()) as {
      data: { actor: string }[];
    };
    expect(page.data[0]?.actor).toMatch(/^auditor:/);
  });

  it('should answer bad filter values with 400 naming the parameter', async () => {
    const res = await call('/api/audit/events?since=yesterday', `Bearer ${auditorToken}`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/since/);
  });

  it('should expose Prometheus metrics for logins and portal calls', async () => {
    const text = await (await fetch(`${stack.broker.url}/metrics`)).text();
    expect(text).toMatch(/broker_logins_total\{outcome="success",reason="ok"\} [1-9]/);
    expect(text).toMatch(/broker_logins_total\{outcome="failure",reason="email_unverified"\} 3/);
    expect(text).toMatch(/broker_login_duration_seconds_bucket/);
    expect(text).toMatch(/broker_portal_request_duration_seconds_count\{target="dashboard",endpoint="\/api\/sso"/);
    expect(text).toMatch(/broker_db_pool_connections\{state="total"\}/);
    expect(text).toMatch(
      /broker_idp_request_duration_seconds_count\{method="POST",endpoint="token",status="200"\} [1-9]/,
    );
    expect(text).toMatch(/broker_audit_sealing_lag_seconds/);
    expect(text).toMatch(/process_cpu_seconds_total/);
  });

  it('should document the admin API in OpenAPI at /docs-json', async () => {
    const doc = (await (await fetch(`${stack.broker.url}/docs-json`)).json()) as { paths: Record<string, unknown> };
    for (const p of [
      '/api/profiles',
      '/api/profiles/{id}',
      '/api/audit/events',
      '/api/audit/export',
      '/api/audit/verify',
      '/api/developers',
      '/health/ready',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    expect((await fetch(`${stack.broker.url}/docs`)).status).toBe(200);
  });

  it('should document each admin answer, its error codes, and the login routes once per GET and POST', async () => {
    type Operation = {
      responses: Record<string, { content?: Record<string, { schema: unknown }>; description?: string }>;
    };
    const doc = (await (await fetch(`${stack.broker.url}/docs-json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    const schemaOf = (path: string, method: string, status: string) =>
      doc.paths[path]?.[method]?.responses[status]?.content?.['application/json']?.schema;
    const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

    // Every admin route answers with a named schema, not a sentence.
    expect(schemaOf('/api/profiles', 'get', '200')).toEqual(ref('ProfileListEnvelopeDto'));
    expect(schemaOf('/api/profiles/{id}', 'get', '200')).toEqual(ref('ProfileEnvelopeDto'));
    expect(schemaOf('/api/profiles/{id}', 'post', '201')).toEqual(ref('ProfileEnvelopeDto'));
    expect(schemaOf('/api/profiles/{id}', 'put', '200')).toEqual(ref('ProfileEnvelopeDto'));
    expect(schemaOf('/api/profiles/{id}', 'delete', '200')).toEqual(ref('ProfileDeletedEnvelopeDto'));
    expect(schemaOf('/api/audit/events', 'get', '200')).toEqual(ref('AuditEventPageDto'));
    expect(schemaOf('/api/audit/verify', 'get', '200')).toEqual(ref('AuditVerifyResultDto'));
    expect(schemaOf('/api/developers', 'get', '200')).toEqual(ref('DeveloperPageDto'));
    expect(schemaOf('/api/developers/{id}', 'get', '200')).toEqual(ref('DeveloperResponseDto'));
    expect(schemaOf('/api/developers/{id}', 'patch', '200')).toEqual(ref('DeveloperResponseDto'));
    expect(schemaOf('/api/developers/{id}', 'delete', '200')).toEqual(ref('DeveloperResponseDto'));
    expect(schemaOf('/api/developers/{id}/logins', 'get', '200')).toEqual(ref('AuditEventPageDto'));
    expect(Object.keys(doc.components.schemas.DeveloperResponseDto?.properties ?? {})).toEqual(
      expect.arrayContaining(['id', 'email', 'status', 'login_count', 'created_at']),
    );
    expect(Object.keys(doc.components.schemas.AuditEventDto?.properties ?? {})).toEqual(
      expect.arrayContaining(['id', 'occurred_at', 'type', 'outcome', 'hash']),
    );

    // Errors: the body's schema and the codes per status.
    expect(schemaOf('/api/developers/{id}', 'get', '404')).toEqual(ref('ErrorResponseDto'));
    expect(doc.paths['/api/developers/{id}']?.get?.responses['404']?.description).toContain('`not_found`');
    expect(doc.paths['/api/audit/events']?.get?.responses['401']?.description).toContain('`unauthorized`');
    expect(doc.paths['/api/audit/events']?.get?.responses['400']?.description).toContain('`cursor_invalid`');
    expect(schemaOf('/api/profiles/{id}', 'put', '409')).toEqual(ref('TibErrorResponseDto'));
    expect(doc.paths['/api/profiles/{id}']?.put?.responses['409']?.description).toContain('`profile_version_conflict`');
    expect(doc.components.schemas.ErrorBodyDto?.properties).toEqual(
      expect.objectContaining({ code: expect.objectContaining({ enum: expect.arrayContaining(['not_found']) }) }),
    );

    // The login routes: GET and POST each, not every method TIB's router accepts.
    for (const path of ['/auth/{id}/{provider}', '/auth/{id}/{provider}/callback']) {
      expect(Object.keys(doc.paths[path] ?? {}).sort()).toEqual(['get', 'post']);
    }
  });
});
