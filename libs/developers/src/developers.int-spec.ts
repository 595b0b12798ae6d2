import { randomUUID } from 'node:crypto';
import { AuditService } from '@app/audit';
import { MIGRATIONS } from '@app/database';
import type { AdminPrincipal } from '@app/common';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import { DataSource } from 'typeorm';
import {
  asSuperuser,
  commitModeOf,
  createTestDatabase,
  singleConnection,
  type TestDatabase,
} from '@test/support/database.js';
import { createLibApp, listenLikeBroker } from '@test/support/lib-app.js';
import type { RecordLoginInput } from './developer.js';
import { DevelopersModule } from './developers.module.js';
import { DevelopersRepository } from './developers.repository.js';
import { DevelopersService, erasedSubject } from './developers.service.js';
import { DeveloperEntity } from './entities/developer.entity.js';
import { PortalOrgLinkEntity } from './entities/portal-org-link.entity.js';
import { OrganisationLinksService, type PortalOrganisationAttempt } from './organisation-links.service.js';

const ISSUER = 'https://idp.example/tenant';
const ACTOR = 'admin:sec-team-1';

let seq = 0;
function claims(overrides: Partial<RecordLoginInput> = {}): RecordLoginInput {
  seq++;
  return {
    issuer: ISSUER,
    subject: `sub-${seq}`,
    email: `dev${seq}@example.com`,
    emailVerified: true,
    name: `Developer ${seq}`,
    organisationId: 'org-a',
    organisationName: 'Org A',
    ssoKey: null,
    ...overrides,
  };
}

describe('developers (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let developers: DevelopersService;
  let links: OrganisationLinksService;
  let audit: AuditService;
  let ds: DataSource;
  let url: string;
  let principal: AdminPrincipal | null = { id: 'sec-team-1', kind: 'token', roles: ['admin'] };

  beforeAll(async () => {
    db = await createTestDatabase('devs');
    app = await createLibApp(db, DevelopersModule, { BROKER_PUBLIC_URL: 'https://sso.example' });
    // What the broker's admin guard does: put the principal on req.user.
    app.use((req: Request, _res: Response, next: NextFunction) => {
      if (principal) (req as Request & { user?: AdminPrincipal }).user = principal;
      next();
    });
    url = await listenLikeBroker(app, {
      validation_failed: 400,
      cursor_invalid: 400,
      not_found: 404,
      developer_blocked: 403,
      unauthorized: 401,
    });
    developers = app.get(DevelopersService);
    links = app.get(OrganisationLinksService);
    audit = app.get(AuditService);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('should match the migration exactly (TypeORM schema diff is empty)', async () => {
    const check = new DataSource({ type: 'postgres', url: db.url, entities: [DeveloperEntity, PortalOrgLinkEntity] });
    await check.initialize();
    try {
      const sql = await check.driver.createSchemaBuilder().log();
      expect(sql.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await check.destroy();
    }
  });

  describe('recordLogin', () => {
    it('should create the developer on the first login and update it on the next', async () => {
      const input = claims({ ssoKey: 'sub@openid-connect.com' });
      const first = await developers.recordLogin(input);
      expect(first.created).toBe(true);
      expect(first.developer).toMatchObject({
        issuer: ISSUER,
        subject: input.subject,
        email: input.email,
        emailVerified: true,
        name: input.name,
        organisationId: 'org-a',
        ssoKey: 'sub@openid-connect.com',
        status: 'active',
        loginCount: 1,
      });
      expect(first.developer.firstLoginAt).toBeInstanceOf(Date);
      await new Promise((r) => setTimeout(r, 5));
      const second = await developers.recordLogin({
        ...input,
        email: 'new@example.com',
        name: 'Renamed',
        ssoKey: null,
      });
      expect(second.created).toBe(false);
      expect(second.developer.id).toBe(first.developer.id);
      expect(second.developer).toMatchObject({
        email: 'new@example.com',
        name: 'Renamed',
        loginCount: 2,
        ssoKey: 'sub@openid-connect.com',
      });
      expect(second.developer.firstLoginAt).toEqual(first.developer.firstLoginAt);
      expect(second.developer.lastLoginAt!.getTime()).toBeGreaterThan(first.developer.lastLoginAt!.getTime());
    });

    it('should count concurrent first logins of one subject on a single row', async () => {
      const input = claims();
      const results = await Promise.all(Array.from({ length: 12 }, () => developers.recordLogin(input)));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.developer.id)).size).toBe(1);
      const [{ n, count }] = await ds.query(
        'SELECT count(*)::int AS n, max(login_count) AS count FROM developers WHERE issuer = $1 AND subject = $2',
        [ISSUER, input.subject],
      );
      expect(n).toBe(1);
      expect(count).toBe(12);
    });

    it('should refuse a blocked developer with developer_blocked and change nothing', async () => {
      const input = claims();
      const { developer } = await developers.recordLogin(input);
      await developers.block(developer.id, ACTOR);
      const [before] = await ds.query('SELECT * FROM developers WHERE id = $1', [developer.id]);
      await expect(developers.recordLogin({ ...input, email: 'changed@example.com' })).rejects.toMatchObject({
        code: 'developer_blocked',
      });
      const [after] = await ds.query('SELECT * FROM developers WHERE id = $1', [developer.id]);
      expect(after).toEqual(before);
      await developers.unblock(developer.id, ACTOR);
      await expect(developers.recordLogin(input)).resolves.toMatchObject({
        created: false,
        developer: { loginCount: 2 },
      });
    });

    it("should refuse a blocked developer's second identity: a new sub, another IdP, the same email, SSO key or portal user", async () => {
      const blocked = claims({ email: 'Mallory@Example.com', ssoKey: 'mallory@openid-connect.com' });
      const { developer } = await developers.recordLogin(blocked);
      await developers.setPortalLink(developer.id, { portalUserId: '9001' });
      await developers.block(developer.id, ACTOR);
      const count = async () => Number((await ds.query('SELECT count(*)::int AS n FROM developers'))[0].n);
      const before = await count();

      // A new subject at the same IdP, and another IdP, with the same email in another case.
      for (const second of [
        claims({ email: 'mallory@example.com' }),
        claims({ issuer: 'https://other-idp.example', email: 'MALLORY@example.COM' }),
        // Another email, but the SSO key the portal knows the blocked developer by.
        claims({ issuer: 'https://other-idp.example', ssoKey: 'mallory@openid-connect.com' }),
      ]) {
        await expect(developers.recordLogin(second)).rejects.toMatchObject({ code: 'developer_blocked' });
      }
      expect(await count()).toBe(before);

      // An identity the portal resolves to the blocked developer's portal account.
      const { developer: other } = await developers.recordLogin(claims({ email: 'innocent-looking@example.com' }));
      await expect(developers.setPortalLink(other.id, { portalUserId: '9001' })).rejects.toMatchObject({
        code: 'developer_blocked',
      });
      await expect(
        developers.recordLogin(claims({ subject: other.subject, email: other.email })),
      ).rejects.toMatchObject({ code: 'developer_blocked' });

      // Unblocked, the second identity signs in.
      await developers.unblock(developer.id, ACTOR);
      await expect(developers.recordLogin(claims({ email: 'mallory@example.com' }))).resolves.toMatchObject({
        created: true,
      });
    });

    it('should refuse, changing nothing, a login whose SSO key another issuer or subject holds (review finding 2)', async () => {
      const key = 'u-123@openid-connect.com';
      const first = await developers.recordLogin(claims({ subject: 'u-123', ssoKey: key }));
      const row = async (id: string) =>
        (await ds.query('SELECT login_count, sso_key FROM developers WHERE id = $1', [id]))[0] as unknown;
      const count = async () => Number((await ds.query('SELECT count(*)::int AS n FROM developers'))[0].n);
      const before = await count();
      for (const second of [
        // The same sub from another IdP (profile B).
        claims({ issuer: 'https://idp-b.example', subject: 'u-123', ssoKey: key }),
        // Another subject at the same IdP whose CustomUserIDField claim says u-123.
        claims({ subject: 'someone-else', ssoKey: key }),
      ]) {
        await expect(developers.recordLogin(second)).rejects.toMatchObject({ code: 'portal_rejected' });
      }
      expect(await count()).toBe(before);
      // A returning developer whose key changes to one another developer holds is refused too.
      const other = await developers.recordLogin(claims({ ssoKey: 'other@openid-connect.com' }));
      await expect(
        developers.recordLogin(claims({ subject: other.developer.subject, ssoKey: key })),
      ).rejects.toMatchObject({ code: 'portal_rejected' });
      expect(await row(other.developer.id)).toEqual({ login_count: 1, sso_key: 'other@openid-connect.com' });

      // The holder still signs in; once erased, the key is free.
      await expect(developers.recordLogin(claims({ subject: 'u-123', ssoKey: key }))).resolves.toMatchObject({
        created: false,
      });
      await developers.erase(first.developer.id, ACTOR);
      await expect(
        developers.recordLogin(claims({ issuer: 'https://idp-b.example', subject: 'u-123', ssoKey: key })),
      ).resolves.toMatchObject({ created: true });
    });

    it('should refuse empty or oversized identifiers with validation_failed', async () => {
      await expect(developers.recordLogin(claims({ subject: '' }))).rejects.toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(/^subject:/),
      });
      await expect(developers.recordLogin(claims({ issuer: 'x'.repeat(501) }))).rejects.toMatchObject({
        message: expect.stringMatching(/^issuer:/),
      });
    });

    it('should store the portal link', async () => {
      const { developer } = await developers.recordLogin(claims());
      const linked = await developers.setPortalLink(developer.id, {
        portalUserId: '42',
        ssoKey: 'k@openid-connect.com',
      });
      expect(linked).toMatchObject({ portalUserId: '42', ssoKey: 'k@openid-connect.com' });
      await expect(
        developers.setPortalLink('00000000-0000-4000-8000-000000000000', { portalUserId: '1' }),
      ).rejects.toMatchObject({ code: 'not_found' });
    });
  });

  describe('block, unblock and erase', () => {
    it('should audit a block once, with the acting admin and in the same transaction', async () => {
      const { developer } = await developers.recordLogin(claims({ organisationId: 'org-blk' }));
      await developers.block(developer.id, ACTOR, { ip: '198.51.100.1', requestId: 'req-1' });
      await developers.block(developer.id, ACTOR);
      const events = await ds.query(
        `SELECT type, actor, target, developer_id::text AS developer, organisation_id,
                (SELECT host(p.ip) FROM audit_event_personal p WHERE p.event_id = audit_events.id) AS ip, request_id, details
           FROM audit_events WHERE developer_id = $1 ORDER BY id`,
        [developer.id],
      );
      expect(events).toEqual([
        {
          type: 'developer.blocked',
          actor: ACTOR,
          target: `developer:${developer.id}`,
          developer: developer.id,
          organisation_id: 'org-blk',
          ip: '198.51.100.1',
          request_id: 'req-1',
          details: { previous_status: 'active', status: 'blocked' },
        },
      ]);
    });

    it('should roll the change back when the audit write fails', async () => {
      const { developer } = await developers.recordLogin(claims());
      // The owner's change (the runtime role may not alter the audit table).
      await asSuperuser(db, (c) =>
        c.query(
          'ALTER TABLE audit_events ADD CONSTRAINT test_no_blocks CHECK (type <> $$developer.blocked$$) NOT VALID',
        ),
      );
      try {
        await expect(developers.block(developer.id, ACTOR)).rejects.toThrow();
      } finally {
        await asSuperuser(db, (c) => c.query('ALTER TABLE audit_events DROP CONSTRAINT test_no_blocks'));
      }
      const [row] = await ds.query('SELECT status FROM developers WHERE id = $1', [developer.id]);
      expect(row.status).toBe('active');
    });

    it("should block and unblock in a caller's transaction, committing or rolling back with it", async () => {
      const { developer } = await developers.recordLogin(claims());
      const statusAndEvents = async () => {
        const [row] = await ds.query<{ status: string }[]>('SELECT status FROM developers WHERE id = $1', [
          developer.id,
        ]);
        const events = await ds.query<{ type: string }[]>(
          'SELECT type FROM audit_events WHERE developer_id = $1 ORDER BY id',
          [developer.id],
        );
        return { status: row.status, events: events.map((e) => e.type) };
      };
      const callersWriteFails = new Error("the caller's own write failed");

      await expect(
        ds.transaction(async (m) => {
          await developers.block(developer.id, ACTOR, {}, m);
          throw callersWriteFails;
        }),
      ).rejects.toBe(callersWriteFails);
      expect(await statusAndEvents()).toEqual({ status: 'active', events: [] });

      await ds.transaction((m) => developers.block(developer.id, ACTOR, {}, m));
      expect(await statusAndEvents()).toEqual({ status: 'blocked', events: ['developer.blocked'] });

      await expect(
        ds.transaction(async (m) => {
          await developers.unblock(developer.id, ACTOR, {}, m);
          throw callersWriteFails;
        }),
      ).rejects.toBe(callersWriteFails);
      expect(await statusAndEvents()).toEqual({ status: 'blocked', events: ['developer.blocked'] });

      await ds.transaction((m) => developers.unblock(developer.id, ACTOR, {}, m));
      expect(await statusAndEvents()).toEqual({
        status: 'active',
        events: ['developer.blocked', 'developer.unblocked'],
      });
    });

    it('should answer not_found for an unknown id and validation_failed for a malformed one', async () => {
      const unknown = '00000000-0000-4000-8000-0000000000ff';
      await expect(developers.block(unknown, ACTOR)).rejects.toMatchObject({ code: 'not_found' });
      await expect(developers.erase(unknown, ACTOR)).rejects.toMatchObject({ code: 'not_found' });
      await expect(developers.get(unknown)).rejects.toMatchObject({ code: 'not_found' });
      await expect(developers.erase('nope', ACTOR)).rejects.toMatchObject({ code: 'validation_failed' });
    });

    it('should erase personal data so that no table holds the email, name or subject any more', async () => {
      const input = claims({
        email: 'erase.me@example.net',
        name: 'Zebedee Quaffle',
        subject: 'subject-zebedee-7781',
        ssoKey: 'subject-zebedee-7781@openid-connect.com',
      });
      const { developer } = await developers.recordLogin(input);
      await developers.setPortalLink(developer.id, { portalUserId: '77' });
      // The login flow's events: pseudonymous ids only (an email slipped into details is removed).
      await audit.record({
        type: 'login.succeeded',
        outcome: 'success',
        developerId: developer.id,
        actor: `developer:${developer.id}`,
        details: { hint: 'erase.me@example.net' },
      });
      await audit.record({
        type: 'login.failed',
        outcome: 'failure',
        reason: 'email_unverified',
        developerId: developer.id,
      });
      const erased = await developers.erase(developer.id, ACTOR);
      expect(erased).toMatchObject({
        id: developer.id,
        email: null,
        name: null,
        ssoKey: null,
        emailVerified: false,
        portalUserId: '77',
      });
      expect(erased.erasedAt).toBeInstanceOf(Date);
      // Not blocked: no pseudonymous hash either (it would tell who once had an account).
      expect(erased.subject).toBeNull();

      const columns = await ds.query<{ table_name: string; column_name: string }[]>(
        `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'character', 'jsonb', 'json')`,
      );
      expect(columns.some((c) => c.table_name === 'audit_events')).toBe(true);
      expect(columns.some((c) => c.table_name === 'developers')).toBe(true);
      const hits: string[] = [];
      for (const { table_name, column_name } of columns) {
        for (const needle of ['erase.me@example.net', 'Zebedee', 'Quaffle', 'subject-zebedee-7781']) {
          const [{ n }] = await ds.query(
            `SELECT count(*)::int AS n FROM "${table_name}" WHERE "${column_name}"::text ILIKE $1`,
            [`%${needle}%`],
          );
          if (n > 0) hits.push(`${table_name}.${column_name} holds ${needle}`);
        }
      }
      expect(hits).toEqual([]);
      const [event] = await ds.query(
        `SELECT actor, target FROM audit_events WHERE type = 'developer.erased' AND developer_id = $1`,
        [developer.id],
      );
      expect(event).toEqual({ actor: ACTOR, target: `developer:${developer.id}` });
      // The history still points at the pseudonym.
      expect((await developers.loginHistory(developer.id)).data).toHaveLength(2);
      // Erasing twice changes nothing and audits nothing more.
      await developers.erase(developer.id, ACTOR);
      const [{ n }] = await ds.query(
        `SELECT count(*)::int AS n FROM audit_events WHERE type = 'developer.erased' AND developer_id = $1`,
        [developer.id],
      );
      expect(n).toBe(1);
      // Signing in again makes a new developer.
      const again = await developers.recordLogin(input);
      expect(again.created).toBe(true);
      expect(again.developer.id).not.toBe(developer.id);
    });

    /** Where any text column of any table holds the value (the subject's hash, say). */
    const holders = async (value: string) => {
      const columns = await ds.query<{ table_name: string; column_name: string }[]>(
        `SELECT table_name, column_name FROM information_schema.columns
          WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'character', 'jsonb', 'json')`,
      );
      const hits: string[] = [];
      for (const { table_name, column_name } of columns) {
        const [{ n }] = await ds.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM "${table_name}" WHERE strpos("${column_name}"::text, $1) > 0`,
          [value],
        );
        if (n > 0) hits.push(`${table_name}.${column_name}`);
      }
      return hits;
    };

    it('should keep no hash of an unblocked subject, and let the person sign in and be erased again', async () => {
      const input = claims({ subject: `erasure-${randomUUID()}` });
      const hash = erasedSubject(input.subject);
      const first = (await developers.recordLogin(input)).developer;
      await expect(developers.erase(first.id, ACTOR)).resolves.toMatchObject({ id: first.id, subject: null });
      expect(await holders(hash)).toEqual([]);
      expect(await holders(input.subject)).toEqual([]);
      // Signing in again makes a new developer, who can be erased in turn.
      const second = await developers.recordLogin(input);
      expect(second.created).toBe(true);
      expect(second.developer.id).not.toBe(first.id);
      await expect(developers.erase(second.developer.id, ACTOR)).resolves.toMatchObject({ subject: null });
      expect(await holders(hash)).toEqual([]);
      expect(await holders(input.subject)).toEqual([]);
      const third = await developers.recordLogin(input);
      expect(third.created).toBe(true);
      expect([first.id, second.developer.id]).not.toContain(third.developer.id);
    });

    it('should keep a blocked developer blocked after erasure, by the hash alone, until unblocked', async () => {
      const input = claims({ subject: `erasure-${randomUUID()}` });
      const hash = erasedSubject(input.subject);
      const { developer } = await developers.recordLogin(input);
      await developers.block(developer.id, ACTOR);
      await expect(developers.erase(developer.id, ACTOR)).resolves.toMatchObject({ subject: hash });
      await expect(developers.recordLogin(input)).rejects.toMatchObject({ code: 'developer_blocked' });
      expect(await holders(input.subject)).toEqual([]);
      expect(await holders(hash)).toEqual(['developers.subject']);
      // Unblocking drops the hash (nothing needs it any more), and the person signs in again.
      await expect(developers.unblock(developer.id, ACTOR)).resolves.toMatchObject({ status: 'active', subject: null });
      expect(await holders(hash)).toEqual([]);
      const again = await developers.recordLogin(input);
      expect(again.created).toBe(true);
      // Blocked and erased again: the new row takes over keeping the person out.
      await developers.block(again.developer.id, ACTOR);
      await developers.erase(again.developer.id, ACTOR);
      await expect(developers.recordLogin(input)).rejects.toMatchObject({ code: 'developer_blocked' });
      // Blocking an erased row whose subject is gone cannot bring it back.
      await developers.block(developer.id, ACTOR);
      await expect(developers.get(developer.id)).resolves.toMatchObject({ status: 'blocked', subject: null });
    });

    it('should refuse a developer not erased without a subject (CHECK)', async () => {
      const { developer } = await developers.recordLogin(claims());
      await expect(ds.query('UPDATE developers SET subject = NULL WHERE id = $1', [developer.id])).rejects.toThrow(
        /CHK_developers_subject/,
      );
    });
  });

  describe('list and login history', () => {
    const made: string[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 7; i++) {
        const { developer } = await developers.recordLogin(
          claims({ organisationId: 'org-list', email: `List${i}@Example.com` }),
        );
        made.unshift(developer.id);
      }
      await developers.block(made[1], ACTOR);
    });

    it('should filter by organisation, status and email (case-insensitive)', async () => {
      expect((await developers.list({ organization: 'org-list' })).data.map((d) => d.id)).toEqual(made);
      expect((await developers.list({ organization: 'org-list', status: 'blocked' })).data.map((d) => d.id)).toEqual([
        made[1],
      ]);
      expect((await developers.list({ email: 'list3@example.COM' })).data.map((d) => d.id)).toEqual([made[3]]);
      expect((await developers.list({ organization: 'org-none' })).data).toEqual([]);
    });

    it('should page newest first with cursors and refuse a cursor with other filters', async () => {
      const seen: string[] = [];
      let page = await developers.list({ organization: 'org-list', limit: 3 });
      seen.push(...page.data.map((d) => d.id));
      const firstCursor = page.next_cursor;
      while (page.next_cursor) {
        await developers.recordLogin(claims({ organisationId: 'org-list' })); // newer rows do not disturb the pages
        page = await developers.list({ organization: 'org-list', limit: 3, cursor: page.next_cursor });
        seen.push(...page.data.map((d) => d.id));
      }
      expect(seen).toEqual(made);
      await expect(
        developers.list({ organization: 'org-other', limit: 3, cursor: firstCursor! }),
      ).rejects.toMatchObject({
        code: 'cursor_invalid',
        message: expect.stringMatching(/^cursor:/),
      });
    });

    it.each([
      [{ status: 'gone' }, 'status'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '1001' }, 'limit'],
      [{ email: 'x'.repeat(400) }, 'email'],
    ])('should refuse %j with validation_failed naming %s', async (input, parameter) => {
      await expect(developers.list(input)).rejects.toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(new RegExp(`^${parameter}:`)),
      });
    });

    it("should read the developer's login.* events from the audit log, newest first, in pages", async () => {
      const id = made[0];
      const ids: string[] = [];
      for (const type of [
        'login.succeeded',
        'logout',
        'login.failed',
        'developer.unblocked',
        'login.succeeded',
      ] as const) {
        const { id: eventId } = await audit.record({
          type,
          outcome: type === 'login.failed' ? 'failure' : 'success',
          developerId: id,
        });
        if (type.startsWith('login.')) ids.unshift(eventId);
      }
      await audit.record({ type: 'login.succeeded', outcome: 'success', developerId: made[2] });
      const first = await developers.loginHistory(id, undefined, 2);
      expect(first.data.map((e) => e.id)).toEqual(ids.slice(0, 2));
      const second = await developers.loginHistory(id, first.next_cursor!, 2);
      expect(second.data.map((e) => e.id)).toEqual(ids.slice(2));
      expect(second.next_cursor).toBeNull();
      await expect(developers.loginHistory('00000000-0000-4000-8000-0000000000ff')).rejects.toMatchObject({
        code: 'not_found',
      });
    });
  });

  describe('OrganisationLinksService', () => {
    it('should create one portal organisation for concurrent first logins of a new organisation', async () => {
      let calls = 0;
      const create = async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 100));
        return { portalOrgId: `portal-org-${calls}`, portalTeamId: 'team-1' };
      };
      const results = await Promise.all(
        Array.from({ length: 8 }, () => links.claim(ISSUER, 'ce-org-new', create, { requestId: 'r-9' })),
      );
      expect(calls).toBe(1);
      expect(new Set(results.map((r) => r.link.portalOrgId))).toEqual(new Set(['portal-org-1']));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(await links.find(ISSUER, 'ce-org-new')).toMatchObject({
        portalOrgId: 'portal-org-1',
        portalTeamId: 'team-1',
      });
      const events = await ds.query(
        `SELECT actor, target, organisation_id, request_id FROM audit_events WHERE type = 'portal.organisation_created'`,
      );
      expect(events).toEqual([
        {
          actor: 'system',
          target: 'portal-organisation:portal-org-1',
          organisation_id: 'ce-org-new',
          request_id: 'r-9',
        },
      ]);
    });

    it('should store nothing when create fails, and try again on the next claim', async () => {
      await expect(links.claim(ISSUER, 'ce-org-flaky', () => Promise.reject(new Error('portal down')))).rejects.toThrow(
        'portal down',
      );
      expect(await links.find(ISSUER, 'ce-org-flaky')).toBeNull();
      const ok = await links.claim(ISSUER, 'ce-org-flaky', () => Promise.resolve({ portalOrgId: 'p-2' }));
      expect(ok).toMatchObject({ created: true, link: { portalOrgId: 'p-2', portalTeamId: null } });
    });

    it('should keep an intent committed before the portal call, and hand its names to the next create (unknown outcome)', async () => {
      const intents = () =>
        ds.query<{ names: string[] }[]>(`SELECT names FROM portal_org_intents WHERE cloudentity_org_id = 'ce-lost'`);
      const lost = (name: string) => async (attempt: PortalOrganisationAttempt) => {
        await attempt.recordIntent(name);
        // Visible to another connection before the "POST": committed, not part of a transaction.
        expect(await intents()).toEqual([{ names: expect.arrayContaining([name]) as unknown }]);
        throw new Error('socket hang up');
      };
      await expect(links.claim(ISSUER, 'ce-lost', lost('Lost Co'))).rejects.toThrow('socket hang up');
      await expect(links.claim(ISSUER, 'ce-lost', lost('Lost Co'))).rejects.toThrow('socket hang up');
      // The name claim changed between attempts: both names are candidates.
      await expect(links.claim(ISSUER, 'ce-lost', lost('Lost Company'))).rejects.toThrow('socket hang up');
      expect(await intents()).toEqual([{ names: ['Lost Co', 'Lost Company'] }]);
      expect(await links.find(ISSUER, 'ce-lost')).toBeNull();

      const seen: (readonly string[])[] = [];
      const adopt = async (attempt: PortalOrganisationAttempt) => {
        seen.push(attempt.pendingNames);
        expect(await attempt.linked(['p-lost', 'portal-org-1'])).toEqual(new Set(['portal-org-1']));
        await new Promise((r) => setTimeout(r, 50));
        return { portalOrgId: 'p-lost', adopted: true };
      };
      const results = await Promise.all(Array.from({ length: 6 }, () => links.claim(ISSUER, 'ce-lost', adopt)));
      expect(seen).toEqual([['Lost Co', 'Lost Company']]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.link.portalOrgId))).toEqual(new Set(['p-lost']));
      expect(await intents()).toEqual([]);
      const events = await ds.query<{ details: Record<string, unknown> }[]>(
        `SELECT details FROM audit_events WHERE type = 'portal.organisation_created' AND organisation_id = 'ce-lost'`,
      );
      expect(events).toEqual([
        { details: expect.objectContaining({ portal_org_id: 'p-lost', adopted: true }) as unknown },
      ]);
    });

    it('should refuse to adopt a portal organisation that a link already owns, and keep the intent', async () => {
      await links.claim(ISSUER, 'ce-owner', () => Promise.resolve({ portalOrgId: 'p-owned' }));
      await expect(
        links.claim(ISSUER, 'ce-thief', async (attempt) => {
          await attempt.recordIntent('Owned Inc');
          return { portalOrgId: 'p-owned', adopted: true };
        }),
      ).rejects.toMatchObject({ code: 'portal_rejected' });
      expect(await links.find(ISSUER, 'ce-thief')).toBeNull();
      const retry = await links.claim(ISSUER, 'ce-thief', (attempt) => {
        expect(attempt.pendingNames).toEqual(['Owned Inc']);
        return Promise.resolve({ portalOrgId: 'p-thief' });
      });
      expect(retry).toMatchObject({ created: true, link: { portalOrgId: 'p-thief' } });
    });

    it("should keep two IdPs' organisations with the same id apart", async () => {
      const a = await links.claim(ISSUER, 'acme', () => Promise.resolve({ portalOrgId: 'portal-acme-a' }));
      const b = await links.claim('https://other-idp.example', 'acme', () =>
        Promise.resolve({ portalOrgId: 'portal-acme-b' }),
      );
      expect([a.created, b.created]).toEqual([true, true]);
      expect((await links.find(ISSUER, 'acme'))?.portalOrgId).toBe('portal-acme-a');
      expect((await links.find('https://other-idp.example', 'acme'))?.portalOrgId).toBe('portal-acme-b');
      expect(await links.find('https://third-idp.example', 'acme')).toBeNull();
    });

    it('should let the first issuer adopt a link made before links had an issuer, instead of creating another', async () => {
      await ds.query(
        `INSERT INTO portal_org_links (issuer, cloudentity_org_id, portal_org_id) VALUES ('', 'legacy-org', 'p-old')`,
      );
      let created = 0;
      const claimed = await links.claim(ISSUER, 'legacy-org', () => {
        created++;
        return Promise.resolve({ portalOrgId: 'p-new' });
      });
      expect(created).toBe(0);
      expect(claimed).toMatchObject({ created: false, link: { issuer: ISSUER, portalOrgId: 'p-old' } });
      const other = await links.claim('https://other-idp.example', 'legacy-org', () =>
        Promise.resolve({ portalOrgId: 'p-other' }),
      );
      expect(other).toMatchObject({ created: true, link: { portalOrgId: 'p-other' } });
    });
  });

  describe('DevelopersLiveSsoKey migration', () => {
    it('should keep a shared SSO key with its first holder and refuse the others until erased', async () => {
      const Migration = MIGRATIONS.find((m) => m.name === 'DevelopersLiveSsoKey1797000017700')!;
      const owner = await new DataSource({ type: 'postgres', url: db.migrationUrl }).initialize();
      const runner = owner.createQueryRunner();
      const key = 'shared-sub@openid-connect.com';
      const first = claims({ issuer: 'https://idp-a.example', subject: 'shared-sub', ssoKey: key });
      const later = claims({ issuer: 'https://idp-b.example', subject: 'shared-sub', ssoKey: key });
      try {
        await new Migration().down(runner);
        // What two profiles' IdPs could make before the index: the same key on two live rows.
        const { developer: a } = await developers.recordLogin(first);
        const { developer: b } = await developers.recordLogin(later);
        await runner.query(`UPDATE developers SET first_login_at = now() - interval '1 day' WHERE id = $1`, [a.id]);
        await new Migration().up(runner);
        const keys = await runner.query(`SELECT id::text AS id, sso_key FROM developers WHERE id = ANY($1::uuid[])`, [
          [a.id, b.id],
        ]);
        expect(Object.fromEntries(keys.map((r: { id: string; sso_key: string | null }) => [r.id, r.sso_key]))).toEqual({
          [a.id]: key,
          [b.id]: null,
        });
        await expect(developers.recordLogin(later)).rejects.toMatchObject({ code: 'portal_rejected' });
        await expect(developers.recordLogin(first)).resolves.toMatchObject({ created: false });
        await developers.erase(b.id, ACTOR);
      } finally {
        await runner.release();
        await owner.destroy();
      }
    });
  });

  describe('DevelopersLiveSsoKey migration, a blocked holder', () => {
    it('should leave a shared key with a blocked developer, so the block still refuses the other identity', async () => {
      const Migration = MIGRATIONS.find((m) => m.name === 'DevelopersLiveSsoKey1797000017700')!;
      const owner = await new DataSource({ type: 'postgres', url: db.migrationUrl }).initialize();
      const runner = owner.createQueryRunner();
      const key = 'blocked-sub@openid-connect.com';
      const first = claims({ issuer: 'https://idp-a.example', subject: 'blocked-sub', ssoKey: key });
      const later = claims({ issuer: 'https://idp-b.example', subject: 'blocked-sub', ssoKey: key });
      try {
        await new Migration().down(runner);
        const { developer: a } = await developers.recordLogin(first);
        const { developer: b } = await developers.recordLogin(later);
        await runner.query(`UPDATE developers SET first_login_at = now() - interval '1 day' WHERE id = $1`, [a.id]);
        await developers.block(b.id, ACTOR);
        await new Migration().up(runner);
        const [{ sso_key }] = await runner.query(`SELECT sso_key FROM developers WHERE id = $1`, [b.id]);
        expect(sso_key).toBe(key);
        await expect(developers.recordLogin(first)).rejects.toMatchObject({ code: 'developer_blocked' });
      } finally {
        await runner.release();
        await owner.destroy();
      }
    });
  });

  describe('PortalOrgLinksByIssuer migration', () => {
    it('should give each existing link the issuer of the earliest developer of its organisation, or none', async () => {
      const Migration = MIGRATIONS.find((m) => m.name === 'PortalOrgLinksByIssuer1797000003000')!;
      const migration = new Migration();
      // Migrations are the owner's: the runtime role the app connects as may not alter tables.
      const owner = await new DataSource({ type: 'postgres', url: db.migrationUrl }).initialize();
      const runner = owner.createQueryRunner();
      try {
        await developers.recordLogin(claims({ issuer: 'https://first-idp.example', organisationId: 'mig-org' }));
        await developers.recordLogin(claims({ issuer: 'https://second-idp.example', organisationId: 'mig-org' }));
        await migration.down(runner);
        await runner.query(
          `INSERT INTO portal_org_links (cloudentity_org_id, portal_org_id) VALUES ('mig-org', 'p-mig'), ('mig-orphan', 'p-orphan')`,
        );
        await migration.up(runner);
        const rows = await runner.query(
          `SELECT issuer, cloudentity_org_id FROM portal_org_links WHERE cloudentity_org_id LIKE 'mig-%' ORDER BY 2`,
        );
        expect(rows).toEqual([
          { issuer: 'https://first-idp.example', cloudentity_org_id: 'mig-org' },
          { issuer: '', cloudentity_org_id: 'mig-orphan' },
        ]);
      } finally {
        await runner.release();
        await owner.destroy();
      }
    });
  });

  describe('DevelopersSubjectUniqueUntilErased and ErasedSubjectOnlyWhileBlocked migrations', () => {
    it('should go down with a person erased twice (one erased row keeps the hash), up again, and then drop the hashes of rows not blocked', async () => {
      const [unique, onlyWhileBlocked] = [
        'DevelopersSubjectUniqueUntilErased1797000014310',
        'ErasedSubjectOnlyWhileBlocked1797000016500',
      ].map((name) => new (MIGRATIONS.find((m) => m.name === name)!)());
      const owner = await new DataSource({ type: 'postgres', url: db.migrationUrl }).initialize();
      const runner = owner.createQueryRunner();
      const subjectsOf = async (...ids: string[]) => {
        const rows = (await runner.query(`SELECT id::text AS id, subject FROM developers WHERE id = ANY($1::uuid[])`, [
          ids,
        ])) as { id: string; subject: string | null }[];
        return Object.fromEntries(rows.map((r) => [r.id, r.subject]));
      };
      try {
        const input = claims();
        const hash = erasedSubject(input.subject);
        const first = (await developers.recordLogin(input)).developer;
        await developers.erase(first.id, ACTOR);
        const second = (await developers.recordLogin(input)).developer;
        await developers.erase(second.id, ACTOR);
        const blocked = (await developers.recordLogin(claims())).developer;
        await developers.block(blocked.id, ACTOR);
        await developers.erase(blocked.id, ACTOR);
        const blockedHash = (await developers.get(blocked.id)).subject;
        expect(blockedHash).toMatch(/^erased:[0-9a-f]{64}$/);

        await onlyWhileBlocked.down(runner);
        // Without the hash, each row gets a subject of its own that says nothing of the person.
        expect(await subjectsOf(first.id, second.id)).toEqual({
          [first.id]: `erased:${first.id}`,
          [second.id]: `erased:${second.id}`,
        });
        // What the rows erased before ErasedSubjectOnlyWhileBlocked held: the hash, twice.
        await runner.query(`UPDATE developers SET subject = $1 WHERE id IN ($2, $3)`, [hash, first.id, second.id]);
        await unique.down(runner);
        expect(await subjectsOf(first.id, second.id)).toEqual({
          [first.id]: hash,
          [second.id]: `erased:${second.id}`,
        });
        await unique.up(runner);
        await runner.query(`UPDATE developers SET subject = $1 WHERE id = $2`, [hash, second.id]);
        await onlyWhileBlocked.up(runner);
        // The upgrade drops the hashes erased rows kept without being blocked, and keeps the blocked one's.
        expect(await subjectsOf(first.id, second.id, blocked.id)).toEqual({
          [first.id]: null,
          [second.id]: null,
          [blocked.id]: blockedHash,
        });
        const again = (await developers.recordLogin(input)).developer;
        await expect(developers.erase(again.id, ACTOR)).resolves.toMatchObject({ subject: null });
      } finally {
        await runner.release();
        await owner.destroy();
      }
    });
  });

  describe('DevelopersBlockedBy migration', () => {
    it("should give each blocked developer the origin of its latest block's audit event", async () => {
      const migration = new (MIGRATIONS.find((m) => m.name === 'DevelopersBlockedBy1797000017200')!)();
      const owner = await new DataSource({ type: 'postgres', url: db.migrationUrl }).initialize();
      const runner = owner.createQueryRunner();
      const blockedBy = async (id: string) =>
        (
          (await runner.query(`SELECT blocked_by FROM developers WHERE id = $1`, [id])) as {
            blocked_by: string | null;
          }[]
        )[0].blocked_by;
      try {
        const ids: Record<string, string> = {};
        for (const [name, actors] of Object.entries({
          admin: ['admin:sec-1'],
          scim: ['scim:entra'],
          rescim: ['admin:sec-1', 'scim:okta'],
          login: ['system:scim'],
          inactive: ['system:inactivity'],
          unblocked: ['scim:entra'],
        })) {
          const { id } = (await developers.recordLogin(claims())).developer;
          for (const actor of actors) {
            await developers.block(id, actor);
            if (actor !== actors[actors.length - 1]) await developers.unblock(id, actor);
          }
          ids[name] = id;
        }
        await developers.unblock(ids.unblocked, 'admin:sec-1');
        const { id: silent } = (await developers.recordLogin(claims())).developer;
        await runner.query(`UPDATE developers SET status = 'blocked' WHERE id = $1`, [silent]);
        expect(await blockedBy(ids.rescim)).toBe('scim:okta');

        await migration.down(runner);
        await migration.up(runner);

        expect({
          admin: await blockedBy(ids.admin),
          scim: await blockedBy(ids.scim),
          rescim: await blockedBy(ids.rescim),
          login: await blockedBy(ids.login),
          inactive: await blockedBy(ids.inactive),
          unblocked: await blockedBy(ids.unblocked),
          silent: await blockedBy(silent),
        }).toEqual({
          admin: 'admin',
          scim: 'scim:entra',
          rescim: 'scim:okta',
          login: 'scim',
          inactive: 'inactivity',
          unblocked: null,
          silent: null,
        });
      } finally {
        await runner.release();
        await owner.destroy();
      }
    });
  });

  describe('over HTTP', () => {
    let id: string;
    let subject: string;

    beforeAll(async () => {
      ({
        developer: { id, subject },
      } = await developers.recordLogin(claims({ organisationId: 'org-http', email: 'http@example.com' })));
    });

    afterEach(() => {
      principal = { id: 'sec-team-1', kind: 'token', roles: ['admin'] };
    });

    it('should describe the developer routes in the OpenAPI document', () => {
      const doc = SwaggerModule.createDocument(app, new DocumentBuilder().build());
      expect(Object.keys(doc.paths['/api/developers/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
      expect(doc.paths['/api/developers']?.get?.tags).toEqual(['developers']);
      expect(doc.paths['/api/developers/{id}/logins']?.get).toBeDefined();
    });

    it('should list developers with a Link header to the next page', async () => {
      await developers.recordLogin(claims({ organisationId: 'org-http' }));
      const res = await fetch(`${url}/api/developers?organization=org-http&limit=1`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: { id: string; email_verified: boolean }[]; next_cursor: string };
      expect(body.data).toHaveLength(1);
      expect(body.data[0]).toHaveProperty('email_verified', true);
      expect(res.headers.get('link')).toBe(
        `<https://sso.example/api/developers?organization=org-http&limit=1&cursor=${body.next_cursor}>; rel="next"`,
      );
      const next = (await (
        await fetch(`${url}/api/developers?organization=org-http&limit=1&cursor=${body.next_cursor}`)
      ).json()) as {
        data: { id: string }[];
      };
      expect(next.data.map((d) => d.id)).toEqual([id]);
    });

    it('should get one developer, 404 for an unknown id and 400 for a malformed one', async () => {
      const res = await fetch(`${url}/api/developers/${id}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        id,
        email: 'http@example.com',
        organisation_id: 'org-http',
        login_count: 1,
      });
      expect((await fetch(`${url}/api/developers/00000000-0000-4000-8000-0000000000ff`)).status).toBe(404);
      const bad = await fetch(`${url}/api/developers/not-a-uuid`);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'validation_failed',
        message: expect.stringMatching(/^id:/),
      });
      expect((await fetch(`${url}/api/developers/not-a-uuid/logins`)).status).toBe(400);
      expect((await fetch(`${url}/api/developers?status=zombie`)).status).toBe(400);
    });

    it('should block and unblock with PATCH, audited with the acting admin', async () => {
      const patch = (status: string) =>
        fetch(`${url}/api/developers/${id}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json', 'user-agent': 'sec-cli/1' },
          body: JSON.stringify({ status }),
        });
      const blocked = await patch('blocked');
      expect(blocked.status).toBe(200);
      expect(await blocked.json()).toMatchObject({ id, status: 'blocked' });
      await expect(developers.recordLogin({ ...claims(), subject })).rejects.toMatchObject({
        code: 'developer_blocked',
      });
      expect((await patch('active')).status).toBe(200);
      expect((await patch('deleted')).status).toBe(400);
      const events = await ds.query(
        `SELECT type, actor, (SELECT p.user_agent FROM audit_event_personal p WHERE p.event_id = audit_events.id) AS user_agent FROM audit_events WHERE developer_id = $1 AND type LIKE 'developer.%' ORDER BY id`,
        [id],
      );
      expect(events).toEqual([
        { type: 'developer.blocked', actor: 'admin:sec-team-1', user_agent: 'sec-cli/1' },
        { type: 'developer.unblocked', actor: 'admin:sec-team-1', user_agent: 'sec-cli/1' },
      ]);
    });

    it('should show the login history over HTTP', async () => {
      await audit.record({ type: 'login.succeeded', outcome: 'success', developerId: id });
      const res = await fetch(`${url}/api/developers/${id}/logins?limit=5`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: { type: string }[]; next_cursor: string | null };
      expect(body.data.map((e) => e.type)).toEqual(['login.succeeded']);
      expect(body.next_cursor).toBeNull();
    });

    it('should erase with DELETE, and answer 401 without a principal', async () => {
      principal = null;
      expect((await fetch(`${url}/api/developers/${id}`, { method: 'DELETE' })).status).toBe(401);
      principal = { id: 'sec-team-1', kind: 'secret', roles: ['admin'] };
      const res = await fetch(`${url}/api/developers/${id}`, { method: 'DELETE' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ id, email: null, name: null });
      expect(res.headers.get('content-type')).toContain('application/json');
    });
  });

  // The login's audit event, success or failure, follows with a synchronous commit (ASYNC_COMMIT).
  describe('commit mode of the login upsert', () => {
    let single: DataSource;
    let repository: DevelopersRepository;
    const values = (input: RecordLoginInput) => ({
      ...input,
      ssoKey: input.ssoKey ?? null,
      erasedSubject: erasedSubject(input.subject),
    });

    beforeAll(async () => {
      single = await singleConnection(db.url);
      repository = new DevelopersRepository(single);
    });

    afterAll(async () => {
      await single?.destroy();
    });

    it('should commit a first and a repeated login without waiting for the WAL flush, for that transaction only', async () => {
      const input = claims();
      await expect(commitModeOf(single, () => repository.recordLogin(values(input)))).resolves.toEqual({
        atCommit: 'off',
        after: 'on',
      });
      await developers.recordLogin(input);
      await expect(
        commitModeOf(single, async () => {
          await expect(repository.recordLogin(values(input))).resolves.toMatchObject({ created: false });
        }),
      ).resolves.toEqual({ atCommit: 'off', after: 'on' });
    });

    it('should leave the commit mode alone when a blocked developer changes nothing', async () => {
      const input = claims();
      const { developer } = await developers.recordLogin(input);
      await developers.block(developer.id, ACTOR);
      await expect(
        commitModeOf(single, async () => {
          await expect(repository.recordLogin(values(input))).resolves.toBeNull();
        }),
      ).resolves.toEqual({ atCommit: 'on', after: 'on' });
    });
  });
});
