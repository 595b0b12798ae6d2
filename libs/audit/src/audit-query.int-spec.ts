import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { DataSource } from 'typeorm';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp, listenLikeBroker } from '@test/support/lib-app.js';
import { AuditEventsRepository } from './audit-events.repository.js';
import { parseAuditFilters, type AuditQueryInput } from './audit-filters.js';
import { AuditModule } from './audit.module.js';
import { AuditService } from './audit.service.js';

const ALICE = '00000000-0000-4000-8000-00000000000a';
const BOB = '00000000-0000-4000-8000-00000000000b';

interface Seed {
  minutesAgo: number;
  type: string;
  outcome: 'success' | 'failure';
  reason?: string;
  target?: string;
  developer?: string;
  org?: string;
  profile?: string;
  ip?: string;
}

// Keyed by a short name kept in request_id, so assertions read as names, not ids.
const SEED: Record<string, Seed> = {
  aliceIn: {
    minutesAgo: 120,
    type: 'login.succeeded',
    outcome: 'success',
    developer: ALICE,
    org: 'org-1',
    profile: 'p1',
    ip: '10.0.0.5',
  },
  anonFail: {
    minutesAgo: 30,
    type: 'login.failed',
    outcome: 'failure',
    reason: 'state_invalid',
    org: 'org-1',
    profile: 'p1',
    ip: '10.0.0.6',
  },
  bobBlocked: {
    minutesAgo: 10,
    type: 'login.failed',
    outcome: 'failure',
    reason: 'developer_blocked',
    developer: BOB,
    org: 'org-2',
    profile: 'p2',
    ip: '192.168.1.9',
  },
  profileEdit: { minutesAgo: 5, type: 'profile.updated', outcome: 'success', target: 'profile:p1', profile: 'p1' },
  bobBlock: {
    minutesAgo: 3,
    type: 'developer.blocked',
    outcome: 'success',
    target: `developer:${BOB}`,
    developer: BOB,
    org: 'org-2',
  },
  aliceOut: { minutesAgo: 1, type: 'logout', outcome: 'success', developer: ALICE, org: 'org-1', ip: '2001:db8::1' },
  oldFail: {
    minutesAgo: 60 * 24 * 3,
    type: 'login.failed',
    outcome: 'failure',
    reason: 'nonce_mismatch',
    org: 'org-1',
    ip: '10.0.0.7',
  },
};

describe('audit query, paging and HTTP routes (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let audit: AuditService;
  let ds: DataSource;
  let url: string;
  const nameOf = new Map<string, string>();

  const names = async (input: AuditQueryInput) => (await audit.query(input)).data.map((e) => nameOf.get(e.id) ?? e.id);

  beforeAll(async () => {
    db = await createTestDatabase('auditq');
    app = await createLibApp(db, AuditModule, { BROKER_PUBLIC_URL: 'https://sso.example' });
    url = await listenLikeBroker(app, {
      validation_failed: 400,
      cursor_invalid: 400,
      not_found: 404,
      verify_running: 409,
    });
    audit = app.get(AuditService);
    ds = app.get(DataSource);
    await ds.query(
      `INSERT INTO developers (id, issuer, subject, email, name) VALUES
         ($1, 'https://idp.example', 'alice', 'Alice@Example.com', 'Alice'),
         ($2, 'https://idp.example', 'bob', 'bob@example.org', 'Bob')`,
      [ALICE, BOB],
    );
    // Oldest first, so that ids follow time as they do in production.
    const ordered = Object.entries(SEED).sort((a, b) => b[1].minutesAgo - a[1].minutesAgo);
    for (const [name, s] of ordered) {
      // A chosen occurred_at: only the superuser may (the runtime role's INSERT leaves it to the database).
      const [row] = await asSuperuser(
        db,
        async (c) =>
          (
            await c.query(
              `INSERT INTO audit_events (occurred_at, type, outcome, reason, target, developer_id, organisation_id, profile_id, ip, request_id)
         VALUES (now() - make_interval(mins => $1), $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id::text AS id`,
              [
                s.minutesAgo,
                s.type,
                s.outcome,
                s.reason ?? null,
                s.target ?? null,
                s.developer ?? null,
                s.org ?? null,
                s.profile ?? null,
                s.ip ?? null,
                name,
              ],
            )
          ).rows,
      );
      nameOf.set(row.id, name);
    }
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('should list everything newest first by default', async () => {
    expect(await names({})).toEqual([
      'aliceOut',
      'bobBlock',
      'profileEdit',
      'bobBlocked',
      'anonFail',
      'aliceIn',
      'oldFail',
    ]);
    expect(await names({ order: 'asc', limit: 2 })).toEqual(['oldFail', 'aliceIn']);
  });

  it.each<[string, AuditQueryInput, string[]]>([
    ['one type', { type: 'logout' }, ['aliceOut']],
    ['repeated types', { type: ['logout', 'profile.updated'] }, ['aliceOut', 'profileEdit']],
    ['a prefix', { type: 'login.*' }, ['bobBlocked', 'anonFail', 'aliceIn', 'oldFail']],
    ['outcome', { outcome: 'failure' }, ['bobBlocked', 'anonFail', 'oldFail']],
    ['developer', { developer: ALICE }, ['aliceOut', 'aliceIn']],
    ['developer (upper-case uuid)', { developer: BOB.toUpperCase() }, ['bobBlock', 'bobBlocked']],
    ['email, case-insensitive, through the developers table', { email: 'alice@EXAMPLE.com' }, ['aliceOut', 'aliceIn']],
    ['an email nobody has', { email: 'nobody@example.com' }, []],
    ['profile', { profile: 'p1' }, ['profileEdit', 'anonFail', 'aliceIn']],
    ['organization', { organization: 'org-2' }, ['bobBlock', 'bobBlocked']],
    ['an exact IP', { ip: '10.0.0.6' }, ['anonFail']],
    ['a CIDR range', { ip: '10.0.0.0/24' }, ['anonFail', 'aliceIn', 'oldFail']],
    ['an IPv6 address', { ip: '2001:db8::1' }, ['aliceOut']],
    [
      'since',
      { since: new Date(Date.now() - 15 * 60_000).toISOString() },
      ['aliceOut', 'bobBlock', 'profileEdit', 'bobBlocked'],
    ],
    ['until', { until: new Date(Date.now() - 60 * 60_000).toISOString() }, ['aliceIn', 'oldFail']],
    [
      'since and until',
      {
        since: new Date(Date.now() - 40 * 60_000).toISOString(),
        until: new Date(Date.now() - 4 * 60_000).toISOString(),
      },
      ['profileEdit', 'bobBlocked', 'anonFail'],
    ],
    ['q over the reason', { q: 'STATE_inv' }, ['anonFail']],
    ['q over the target', { q: 'profile:p1' }, ['profileEdit']],
    ['q over the developer email', { q: 'example.org' }, ['bobBlock', 'bobBlocked']],
    ['q over a whole developer email (the UNION plan)', { q: 'BOB@example.org' }, ['bobBlock', 'bobBlocked']],
    ['q with an email and a reason word', { q: 'bob@example.org blocked' }, ['bobBlocked']],
    ['q with several keywords (all must match)', { q: 'blocked example.org' }, ['bobBlocked']],
    ['q with a keyword that matches nothing', { q: 'blocked zzz' }, []],
    ['q with LIKE wildcards taken literally', { q: '%' }, []],
  ])('should filter by %s', async (_label, input, expected) => {
    expect(await names(input)).toEqual(expected);
  });

  it('should answer "failed logins of the last hour for one organisation"', async () => {
    const since = new Date(Date.now() - 60 * 60_000).toISOString();
    expect(await names({ type: 'login.*', outcome: 'failure', organization: 'org-1', since })).toEqual(['anonFail']);
  });

  it('should return the event fields without emails or names', async () => {
    const { data } = await audit.query({ developer: ALICE, type: 'login.succeeded' });
    expect(data).toHaveLength(1);
    const event = data[0];
    expect(event).toMatchObject({
      type: 'login.succeeded',
      outcome: 'success',
      developer_id: ALICE,
      organisation_id: 'org-1',
      profile_id: 'p1',
      ip: '10.0.0.5',
      hash: null,
    });
    expect(event.occurred_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    expect(JSON.stringify(data)).not.toMatch(/alice@example|"Alice"/i);
  });

  it('should page with a cursor and stay consistent while new events arrive', async () => {
    const seen: string[] = [];
    let page = await audit.query({ limit: 2 });
    seen.push(...page.data.map((e) => e.id));
    let extra = 0;
    while (page.next_cursor) {
      // New events between pages must not shift or repeat what is still to come.
      await audit.record({ type: 'logout', outcome: 'success', target: `new-${extra++}` });
      page = await audit.query({ limit: 2, cursor: page.next_cursor });
      seen.push(...page.data.map((e) => e.id));
    }
    expect(seen.map((id) => nameOf.get(id))).toEqual([
      'aliceOut',
      'bobBlock',
      'profileEdit',
      'bobBlocked',
      'anonFail',
      'aliceIn',
      'oldFail',
    ]);
    expect(extra).toBe(3);
  });

  it('should keep offering a next page in ascending order without until (polling), and deliver new events on it', async () => {
    const all = await audit.query({ order: 'asc', limit: 1000, type: 'profile.deleted' });
    expect(all.data).toEqual([]);
    expect(all.next_cursor).not.toBeNull();
    const { id } = await audit.record({ type: 'profile.deleted', outcome: 'success', target: 'profile:gone' });
    const next = await audit.query({ order: 'asc', limit: 1000, type: 'profile.deleted', cursor: all.next_cursor! });
    expect(next.data.map((e) => e.id)).toEqual([id]);
    const bounded = await audit.query({
      order: 'asc',
      type: 'profile.deleted',
      until: new Date(Date.now() + 60_000).toISOString(),
    });
    expect(bounded.next_cursor).toBeNull();
  });

  it('should refuse a cursor replayed with other filters', async () => {
    const first = await audit.query({ type: 'login.*', limit: 1 });
    expect(first.next_cursor).not.toBeNull();
    await expect(audit.query({ type: 'logout', limit: 1, cursor: first.next_cursor! })).rejects.toMatchObject({
      code: 'cursor_invalid',
      message: expect.stringMatching(/^cursor:/),
    });
  });

  describe('over HTTP', () => {
    it('should answer GET /api/audit/events with data, next_cursor and a Link header that leads to the next page', async () => {
      const res = await fetch(`${url}/api/audit/events?type=login.*&limit=2`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = (await res.json()) as { data: { id: string }[]; next_cursor: string };
      expect(body.data.map((e) => nameOf.get(e.id))).toEqual(['bobBlocked', 'anonFail']);
      const link = res.headers.get('link');
      expect(link).toBe(
        `<https://sso.example/api/audit/events?type=login.*&limit=2&cursor=${body.next_cursor}>; rel="next"`,
      );
      const nextUrl = /<https:\/\/sso\.example([^>]+)>/.exec(link!)![1];
      const next = (await (await fetch(`${url}${nextUrl}`)).json()) as {
        data: { id: string }[];
        next_cursor: string | null;
      };
      expect(next.data.map((e) => nameOf.get(e.id))).toEqual(['aliceIn', 'oldFail']);
      expect(next.next_cursor).toBeNull();
    });

    it('should accept repeated type parameters', async () => {
      const res = await fetch(`${url}/api/audit/events?type=logout&type=developer.blocked&since=2000-01-01`);
      const body = (await res.json()) as { data: { id: string }[] };
      expect(body.data.map((e) => nameOf.get(e.id) ?? 'new')).toEqual(expect.arrayContaining(['aliceOut', 'bobBlock']));
      expect(
        body.data.every((e) => ['logout', 'developer.blocked'].includes((e as unknown as { type: string }).type)),
      ).toBe(true);
    });

    it.each([
      ['type=login.bogus', 'type'],
      ['outcome=maybe', 'outcome'],
      ['developer=123', 'developer'],
      ['ip=999.0.0.1', 'ip'],
      ['since=yesterday', 'since'],
      ['until=2025-13-01', 'until'],
      ['order=up', 'order'],
      ['limit=5000', 'limit'],
      ['limit=-1', 'limit'],
    ])('should answer 400 validation_failed naming the parameter for %s', async (query, parameter) => {
      const res = await fetch(`${url}/api/audit/events?${query}`);
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('validation_failed');
      expect(body.error.message.startsWith(`${parameter}:`)).toBe(true);
    });

    it('should answer 400 for an unknown parameter', async () => {
      const res = await fetch(`${url}/api/audit/events?colour=blue`);
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('colour');
    });

    it('should stream an export as NDJSON and as CSV with the right content types', async () => {
      const nd = await fetch(`${url}/api/audit/export?organization=org-2`);
      expect(nd.status).toBe(200);
      expect(nd.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
      expect(nd.headers.get('content-disposition')).toBe('attachment; filename="audit-events.ndjson"');
      const lines = (await nd.text()).trim().split('\n');
      expect(lines.map((l) => nameOf.get((JSON.parse(l) as { id: string }).id))).toEqual(['bobBlock', 'bobBlocked']);

      const csv = await fetch(`${url}/api/audit/export?format=csv&organization=org-2&order=asc`);
      expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      const rows = (await csv.text()).trim().split('\r\n');
      expect(rows[0]).toMatch(/^id,occurred_at,type,outcome,/);
      expect(rows).toHaveLength(3);
      expect(rows[1]).toContain(',login.failed,failure,developer_blocked,');
    });

    it('should answer 400 naming format for an unknown export format, and refuse limit on export', async () => {
      const res = await fetch(`${url}/api/audit/export?format=xml`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^format:/);
      expect((await fetch(`${url}/api/audit/export?limit=5`)).status).toBe(400);
    });

    it.each([
      ['ip', 'fe80::1%25eth0'],
      ['since', '0000-01-01'],
      ['until', '0001-01-01T00:30:00%2B01:00'],
    ])('should refuse %s=%s as the query does, on export too (never a database error)', async (name, value) => {
      for (const route of ['events', 'export']) {
        const res = await fetch(`${url}/api/audit/${route}?${name}=${value}`);
        expect({ route, status: res.status }).toEqual({ route, status: 400 });
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('validation_failed');
        expect(body.error.message.startsWith(`${name}:`)).toBe(true);
      }
      // The earliest time Postgres and the filters both take still answers.
      expect((await fetch(`${url}/api/audit/export?since=0001-01-01`)).status).toBe(200);
    });

    it("should write a time outside years 1 to 9999 into the export's COPY as Postgres takes it, as the query binds it", async () => {
      const events = app.get(AuditEventsRepository);
      const filters = { ...parseAuditFilters({}), since: new Date('0000-01-01T00:00:00Z') };
      let bytes = 0;
      await events.copyBatch(filters, null, 1000, (chunk) => (bytes += chunk.length));
      expect(bytes).toBeGreaterThan(0);
      const all = (await events.select(parseAuditFilters({}), null, 1000)).length;
      expect(all).toBeGreaterThan(0);
      expect((await events.select(filters, null, 1000)).length).toBe(all);
    });

    it('should describe the audit routes and their parameters in the OpenAPI document', () => {
      const doc = SwaggerModule.createDocument(app, new DocumentBuilder().build());
      const events = doc.paths['/api/audit/events']?.get;
      expect(events?.tags).toEqual(['audit']);
      const params = (events?.parameters ?? []).map((p) => ('name' in p ? p.name : ''));
      expect(params).toEqual(
        expect.arrayContaining([
          'type',
          'outcome',
          'developer',
          'email',
          'profile',
          'organization',
          'ip',
          'since',
          'until',
          'q',
          'order',
          'limit',
          'cursor',
        ]),
      );
      expect(doc.paths['/api/audit/export']?.get).toBeDefined();
      expect(doc.paths['/api/audit/verify']?.get).toBeDefined();
    });

    it('should verify over HTTP', async () => {
      await audit.sealNow();
      // Counted before: a full verify on demand records its result as one more event.
      const [{ n }] = await ds.query('SELECT count(*)::int AS n FROM audit_events');
      const res = await fetch(`${url}/api/audit/verify`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { status: string; count: number; lastHash: string };
      expect(body.status).toBe('intact');
      expect(body.count).toBe(n);
      const [{ after }] = await ds.query(
        `SELECT count(*)::int AS after FROM audit_events WHERE type = 'audit.verified'`,
      );
      expect(after).toBe(1);
      expect(body.lastHash).toMatch(/^[0-9a-f]{64}$/);
      const bad = await fetch(`${url}/api/audit/verify?from_id=x`);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^from_id:/);
    });

    it('should answer 409 verify_running to a full verify while another one runs anywhere, and still verify routinely', async () => {
      const other = ds.createQueryRunner();
      await other.connect();
      await other.query(`SELECT pg_advisory_lock(hashtext('broker.audit.full_verify'))`);
      try {
        for (const query of ['', '?mode=full']) {
          const res = await fetch(`${url}/api/audit/verify${query}`);
          expect(res.status).toBe(409);
          const body = (await res.json()) as { error: { code: string; message: string } };
          expect(body.error.code).toBe('verify_running');
          expect(body.error.message).toMatch(/full verify .* already running/);
        }
        expect((await fetch(`${url}/api/audit/verify?mode=routine`)).status).toBe(200);
      } finally {
        await other.query(`SELECT pg_advisory_unlock(hashtext('broker.audit.full_verify'))`);
        await other.release();
      }
      expect((await fetch(`${url}/api/audit/verify`)).status).toBe(200);
    });
  });
});
