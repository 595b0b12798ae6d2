import { DomainError } from '@app/common';
import { DevelopersService, type RecordLoginInput } from '@app/developers';
import { TykPortalClient } from '@app/tyk-portal';
import { Module, type INestApplication } from '@nestjs/common';
import pg from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp, listenLikeBroker } from '@test/support/lib-app.js';
import { DeprovisioningWorker } from '../deprovisioning.worker.js';
import { ProvisioningModule } from '../provisioning.module.js';
import type { TokenRevoker } from '../token-revoker.js';
import { scimBodyParser } from './scim-body.js';
import { ScimUsersRepository } from './scim-users.repository.js';
import { ScimUsersService } from './scim-users.service.js';

/**
 * SCIM writes and the developer they block or unblock commit together (real Postgres, real
 * HTTP): a failure in either half, forced by a trigger that raises, leaves both as they were.
 * And two links of one developer at once (two logins, with the first one's transaction held
 * open) converge on one SCIM user instead of failing on UQ_scim_users_developer.
 */
const TOKEN = 'entra-scim-token-0123456789abcdefghijklmnop';
const OKTA_TOKEN = 'okta-scim-token-0123456789abcdefghijklmnopq';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ISSUER = 'https://idp.example/tenant';
/** Reads a user whichever client made it. */
const ANY_CLIENT = { client: 'test', issuer: null };

/** The outbox worker is stopped in these tests; nothing reaches a portal. */
@Module({ providers: [{ provide: TykPortalClient, useValue: {} }], exports: [TykPortalClient] })
class NoPortalModule {}

class NoRevoker implements TokenRevoker {
  revokeFor(): Promise<void> {
    return Promise.resolve();
  }
  revokeSealed(): Promise<void> {
    return Promise.resolve();
  }
}

let seq = 0;
function login(overrides: Partial<RecordLoginInput> = {}): RecordLoginInput {
  seq++;
  return {
    issuer: ISSUER,
    subject: `sub-${seq}`,
    email: `dev${seq}@example.com`,
    emailVerified: true,
    name: `Developer ${seq}`,
    organisationId: null,
    organisationName: null,
    ssoKey: null,
    ...overrides,
  };
}

describe('SCIM users and their developers (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let url: string;
  let developers: DevelopersService;
  let scimUsers: ScimUsersService;
  let repository: ScimUsersRepository;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('scimtx');
    app = await createLibApp(db, ProvisioningModule.forRoot({ imports: [NoPortalModule], tokenRevoker: NoRevoker }), {
      BROKER_SCIM_TOKENS: `entra:${TOKEN},okta:${OKTA_TOKEN}`,
      BROKER_PUBLIC_URL: 'https://sso.example',
    });
    app.use('/scim', ...scimBodyParser(64 * 1024));
    url = await listenLikeBroker(app, {});
    await app.get(DeprovisioningWorker).onApplicationShutdown();
    developers = app.get(DevelopersService);
    scimUsers = app.get(ScimUsersService);
    repository = app.get(ScimUsersRepository);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  async function scim(method: string, path: string, body?: unknown, token = TOKEN) {
    const res = await fetch(`${url}/scim/v2${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/scim+json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
    };
  }

  const setActive = (id: string, active: boolean, token = TOKEN) =>
    scim(
      'PATCH',
      `/Users/${id}`,
      { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: active }] },
      token,
    );

  /** A developer who has signed in, and a SCIM user created for them (linked at creation). */
  async function provisioned(active = true) {
    const { developer } = await developers.recordLogin(login());
    const created = await scim('POST', '/Users', {
      schemas: [USER],
      userName: developer.email,
      externalId: developer.subject,
      active,
    });
    expect(created.status).toBe(201);
    const id = created.body!.id as string;
    expect((await repository.find(id, ANY_CLIENT))?.developerId).toBe(developer.id);
    return { developer, id };
  }

  const statusOf = async (developerId: string) => (await developers.get(developerId)).status;

  async function events(developerId: string): Promise<string[]> {
    const rows = await ds.query<{ type: string }[]>(
      `SELECT type FROM audit_events WHERE developer_id = $1 ORDER BY id`,
      [developerId],
    );
    return rows.map((r) => r.type);
  }

  async function outbox(developerId: string): Promise<string[]> {
    const rows = await ds.query<{ action: string }[]>(
      `SELECT action FROM deprovisioning_outbox WHERE developer_id = $1`,
      [developerId],
    );
    return rows.map((r) => r.action);
  }

  /** Installs a trigger (as the superuser) that raises on `event` of `table`, for the duration of `fn`. */
  async function failing<T>(table: string, event: string, fn: () => Promise<T>): Promise<T> {
    await asSuperuser(db, async (c) => {
      await c.query(`CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure on %', TG_TABLE_NAME; END $$`);
      await c.query(`CREATE TRIGGER test_fail BEFORE ${event} ON ${table} FOR EACH ROW EXECUTE FUNCTION test_fail()`);
    });
    try {
      return await fn();
    } finally {
      await asSuperuser(db, (c) => c.query(`DROP TRIGGER test_fail ON ${table}`));
    }
  }

  describe('requests as the IdPs send them', () => {
    it('should apply active from an Entra ID PATCH that also changes attributes the broker does not keep', async () => {
      const { developer, id } = await provisioned();
      // Entra ID's PATCH after a user's job, name and status changed in the directory: every changed
      // attribute in one request, the enterprise extension by its URN path, active as "False".
      const enterprise = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
      const res = await scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [
          { op: 'Replace', path: 'displayName', value: 'Dana Dev' },
          { op: 'Replace', path: 'title', value: 'Platform engineer' },
          { op: 'Replace', path: 'preferredLanguage', value: 'de-DE' },
          { op: 'Replace', path: 'name.givenName', value: 'Dana' },
          { op: 'Replace', path: 'name.formatted', value: 'Dana Dev' },
          { op: 'Replace', path: 'phoneNumbers[type eq "work"].value', value: '+49 30 123456' },
          { op: 'Replace', path: 'addresses[type eq "work"].locality', value: 'Berlin' },
          { op: 'Add', path: `${enterprise}:department`, value: 'Partners' },
          { op: 'Add', path: `${enterprise}:employeeNumber`, value: '4711' },
          { op: 'Replace', path: 'active', value: 'False' },
        ],
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ active: false, displayName: 'Dana Dev', name: { givenName: 'Dana' } });
      expect(await statusOf(developer.id)).toBe('blocked');
      expect(await outbox(developer.id)).toEqual(['deactivate']);
      expect(await events(developer.id)).toEqual(
        expect.arrayContaining(['scim.user_updated', 'scim.user_deactivated', 'developer.blocked']),
      );
    });

    it('should answer POST /Users with 201 and a Location header that is meta.location', async () => {
      const created = await scim('POST', '/Users', { schemas: [USER], userName: `loc-${++seq}@example.com` });
      expect(created.status).toBe(201);
      const location = (created.body!.meta as { location: string }).location;
      expect(location).toBe(`https://sso.example/scim/v2/Users/${created.body!.id as string}`);
      expect(created.headers.get('location')).toBe(location);
    });

    it('should keep active as it is when a PUT leaves it out', async () => {
      const { developer, id } = await provisioned(false);
      expect(await statusOf(developer.id)).toBe('blocked');
      const put = await scim('PUT', `/Users/${id}`, { schemas: [USER], userName: developer.email, displayName: 'X' });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ active: false, displayName: 'X' });
      expect(await statusOf(developer.id)).toBe('blocked');
      expect(await events(developer.id)).not.toContain('developer.unblocked');
    });
  });

  describe('DELETE /Users/{id}', () => {
    it('should neither block the developer nor audit anything when the delete fails', async () => {
      const { developer, id } = await provisioned();
      const before = await events(developer.id);

      const refused = await failing('scim_users', 'DELETE', () => scim('DELETE', `/Users/${id}`));

      expect(refused.status).toBe(500);
      expect(await repository.find(id, ANY_CLIENT)).not.toBeNull();
      expect(await statusOf(developer.id)).toBe('active');
      expect(await events(developer.id)).toEqual(before);
      expect(await outbox(developer.id)).toEqual([]);

      // The IdP's retry does the whole delete.
      expect((await scim('DELETE', `/Users/${id}`)).status).toBe(204);
      expect(await repository.find(id, ANY_CLIENT)).toBeNull();
      expect(await statusOf(developer.id)).toBe('blocked');
      expect((await events(developer.id)).slice(before.length)).toEqual(['developer.blocked', 'scim.user_deleted']);
      expect(await outbox(developer.id)).toEqual(['deactivate']);
    });

    it('should not delete the user when blocking the developer fails', async () => {
      const { developer, id } = await provisioned();
      const before = await events(developer.id);

      const refused = await failing('developers', 'UPDATE', () => scim('DELETE', `/Users/${id}`));

      expect(refused.status).toBe(500);
      expect(await repository.find(id, ANY_CLIENT)).not.toBeNull();
      expect(await statusOf(developer.id)).toBe('active');
      expect(await events(developer.id)).toEqual(before);
    });

    it('should wait for an erasure of the developer instead of deadlocking with it', async () => {
      const { developer, id } = await provisioned();
      // What an erasure does, held open: the developer's row locked, then its SCIM user deleted.
      const erasure = new pg.Client({ connectionString: db.url });
      await erasure.connect();
      try {
        await erasure.query('BEGIN');
        await erasure.query(`SELECT 1 FROM developers WHERE id = $1 FOR UPDATE`, [developer.id]);
        const deleting = scim('DELETE', `/Users/${id}`);
        await waitForLockWaiters(1);
        await erasure.query('SET LOCAL lock_timeout = 5000');
        await erasure.query(`DELETE FROM scim_users WHERE developer_id = $1`, [developer.id]);
        await erasure.query('COMMIT');
        // The user went with the erasure: the SCIM client is told so, not given a 500.
        expect((await deleting).status).toBe(404);
      } finally {
        await erasure.end();
      }
    });
  });

  describe('reactivation (active: true)', () => {
    it('should fail as a whole when the unblock fails, so that the retry unblocks the developer', async () => {
      const { developer, id } = await provisioned();
      expect((await setActive(id, false)).status).toBe(200);
      expect(await statusOf(developer.id)).toBe('blocked');
      const before = await events(developer.id);

      const refused = await failing('developers', 'UPDATE', () => setActive(id, true));

      expect(refused.status).toBe(500);
      expect((await repository.find(id, ANY_CLIENT))?.active).toBe(false);
      expect(await statusOf(developer.id)).toBe('blocked');
      expect(await events(developer.id)).toEqual(before);

      const retried = await setActive(id, true);
      expect(retried.status).toBe(200);
      expect(retried.body).toMatchObject({ active: true });
      expect(await statusOf(developer.id)).toBe('active');
      expect((await events(developer.id)).slice(before.length)).toEqual([
        'scim.user_updated',
        'developer.unblocked',
        'scim.user_reactivated',
      ]);
    });

    it('should fail as a whole through PUT too', async () => {
      const { developer, id } = await provisioned(false);
      expect(await statusOf(developer.id)).toBe('blocked');
      const replace = { schemas: [USER], userName: developer.email, externalId: developer.subject, active: true };

      const refused = await failing('developers', 'UPDATE', () => scim('PUT', `/Users/${id}`, replace));

      expect(refused.status).toBe(500);
      expect((await repository.find(id, ANY_CLIENT))?.active).toBe(false);
      expect((await scim('PUT', `/Users/${id}`, replace)).status).toBe(200);
      expect(await statusOf(developer.id)).toBe('active');
    });

    it('should not keep a deactivation whose block failed', async () => {
      const { developer, id } = await provisioned();

      const refused = await failing('developers', 'UPDATE', () => setActive(id, false));

      expect(refused.status).toBe(500);
      expect((await repository.find(id, ANY_CLIENT))?.active).toBe(true);
      expect(await statusOf(developer.id)).toBe('active');
    });
  });

  describe('who blocked: SCIM lifts only its own blocks', () => {
    const blockedBy = async (developerId: string) => (await developers.get(developerId)).blockedBy;
    async function reactivation(developerId: string) {
      const rows = await ds.query<{ details: Record<string, unknown> }[]>(
        `SELECT details FROM audit_events WHERE developer_id = $1 AND type = 'scim.user_reactivated'
          ORDER BY id DESC LIMIT 1`,
        [developerId],
      );
      return rows[0]?.details;
    }

    it("should never unblock a developer an admin blocked, and still read back the IdP's active", async () => {
      // The review's sequence: an admin blocks D; a SCIM client provisions a user with D's
      // verified email, inactive (linked to D), then reactivates it.
      const { developer } = await developers.recordLogin(login());
      await developers.block(developer.id, 'admin:admin-1');
      expect(await blockedBy(developer.id)).toBe('admin');
      const created = await scim('POST', '/Users', {
        schemas: [USER],
        userName: `someone-${seq}@example.org`,
        emails: [{ type: 'work', value: developer.email }],
        active: false,
      });
      expect(created.status).toBe(201);
      const id = created.body!.id as string;
      expect((await repository.find(id, ANY_CLIENT))?.developerId).toBe(developer.id);
      expect(await blockedBy(developer.id)).toBe('admin');

      const on = await setActive(id, true);

      expect(on.status).toBe(200);
      expect(on.body).toMatchObject({ active: true });
      expect((await scim('GET', `/Users/${id}`)).body).toMatchObject({ active: true });
      expect(await statusOf(developer.id)).toBe('blocked');
      expect(await blockedBy(developer.id)).toBe('admin');
      expect(await events(developer.id)).not.toContain('developer.unblocked');
      expect(await reactivation(developer.id)).toEqual({ developer_status: 'blocked', developer_blocked_by: 'admin' });
    });

    it('should keep the block when an admin blocks a developer SCIM had blocked', async () => {
      const { developer, id } = await provisioned();
      expect((await setActive(id, false)).status).toBe(200);
      expect(await blockedBy(developer.id)).toBe('scim:entra');
      await developers.block(developer.id, 'admin:admin-1');
      expect(await blockedBy(developer.id)).toBe('admin');
      // The takeover is audited: it changes who may let the developer back in.
      const [takeover] = await ds.query<{ actor: string; details: Record<string, unknown> }[]>(
        `SELECT actor, details FROM audit_events WHERE developer_id = $1 AND type = 'developer.blocked'
          ORDER BY id DESC LIMIT 1`,
        [developer.id],
      );
      expect(takeover).toMatchObject({
        actor: 'admin:admin-1',
        details: { previous_status: 'blocked', blocked_by: 'admin', took_over_from: 'scim:entra' },
      });

      expect((await setActive(id, true)).status).toBe(200);

      expect(await statusOf(developer.id)).toBe('blocked');
      await developers.unblock(developer.id, 'admin:admin-1');
      expect(await blockedBy(developer.id)).toBeNull();
    });

    it("should not lift another SCIM client's block, and lift its own", async () => {
      const { developer, id } = await provisioned();
      expect((await setActive(id, false)).status).toBe(200);

      expect((await setActive(id, true, OKTA_TOKEN)).status).toBe(200);
      expect(await statusOf(developer.id)).toBe('blocked');
      expect(await reactivation(developer.id)).toEqual({
        developer_status: 'blocked',
        developer_blocked_by: 'scim:entra',
      });

      expect((await setActive(id, false, OKTA_TOKEN)).status).toBe(200);
      expect(await blockedBy(developer.id)).toBe('scim:entra');
      expect((await setActive(id, true)).status).toBe(200);
      expect(await statusOf(developer.id)).toBe('active');
      expect(await reactivation(developer.id)).toEqual({ developer_status: 'active' });
    });

    it('should not lift a block of the inactivity policy, the CLI, or of unknown origin', async () => {
      for (const block of [
        (id: string) => developers.block(id, 'system:inactivity'),
        (id: string) => developers.block(id, 'system:cli'),
        async (id: string) => {
          await developers.block(id, 'scim:entra');
          // A block from before the migration, with no developer.blocked event to tell its origin.
          await ds.query(`UPDATE developers SET blocked_by = NULL WHERE id = $1`, [id]);
        },
      ]) {
        const { developer, id } = await provisioned();
        expect((await setActive(id, false)).status).toBe(200);
        await developers.unblock(developer.id, 'admin:admin-1');
        await block(developer.id);

        expect((await setActive(id, true)).status).toBe(200);

        expect(await statusOf(developer.id)).toBe('blocked');
      }
    });

    it('should lift the block of a login refused over an inactive SCIM user when any SCIM client reactivates it', async () => {
      const subject = `pre-${++seq}`;
      const created = await scim('POST', '/Users', {
        schemas: [USER],
        userName: `${subject}@example.com`,
        externalId: subject,
        active: false,
      });
      const id = created.body!.id as string;
      const { developer } = await developers.recordLogin(login({ subject }));
      await expect(scimUsers.atLogin({ ...developer, subject })).rejects.toMatchObject({ code: 'developer_blocked' });
      expect(await blockedBy(developer.id)).toBe('scim');

      expect((await setActive(id, true, OKTA_TOKEN)).status).toBe(200);

      expect(await statusOf(developer.id)).toBe('active');
    });
  });

  describe('linking at login, two logins at once', () => {
    /** SCIM users created before the developer's first login (so unlinked), and that developer. */
    async function preProvisioned(users: { externalId?: boolean; email?: boolean; active: boolean }[]) {
      const claims = login();
      const ids: string[] = [];
      for (const [i, u] of users.entries()) {
        const created = await scim('POST', '/Users', {
          schemas: [USER],
          userName: `user-${seq}-${i}@example.org`,
          ...(u.externalId ? { externalId: claims.subject } : {}),
          ...(u.email ? { emails: [{ value: claims.email, type: 'work', primary: true }] } : {}),
          active: u.active,
        });
        expect(created.status).toBe(201);
        ids.push(created.body!.id as string);
      }
      const { developer } = await developers.recordLogin(claims);
      return { developer, ids };
    }

    /** The first login's link, its transaction held open while `second` starts. */
    async function concurrently<T>(developer: Parameters<ScimUsersService['atLogin']>[0], second: () => Promise<T>) {
      const first = ds.createQueryRunner();
      await first.connect();
      try {
        await first.startTransaction();
        const linked = await repository.linkAtLogin(first.manager, developer);
        let settled = false;
        const pending = second().then(
          (value) => ({ value, error: null }),
          (error: unknown) => ({ value: null, error }),
        );
        void pending.finally(() => (settled = true));
        // (Before the fix, the second link skipped the locked candidate and did not wait.)
        await waitForLockWaiters(1, () => settled);
        await first.commitTransaction();
        return { linked, second: await pending };
      } finally {
        await first.release();
      }
    }

    it('should converge on the first link when the second login picked another candidate', async () => {
      // By subject (the first login's pick) and by verified email (what the second one falls to).
      const { developer, ids } = await preProvisioned([
        { externalId: true, active: true },
        { email: true, active: true },
      ]);

      const { linked, second } = await concurrently(developer, () => scimUsers.atLogin(developer));

      expect(linked?.id).toBe(ids[0]);
      expect(second.error).toBeNull();
      expect((await repository.find(ids[0], ANY_CLIENT))?.developerId).toBe(developer.id);
      expect((await repository.find(ids[1], ANY_CLIENT))?.developerId).toBeNull();
      expect(await statusOf(developer.id)).toBe('active');
    });

    it('should find the first link, and refuse the login, when the one candidate is inactive', async () => {
      const { developer, ids } = await preProvisioned([{ externalId: true, active: false }]);

      const { linked, second } = await concurrently(developer, () => scimUsers.atLogin(developer));

      expect(linked?.id).toBe(ids[0]);
      expect(second.error).toBeInstanceOf(DomainError);
      expect(second.error).toMatchObject({ code: 'developer_blocked' });
      expect(await statusOf(developer.id)).toBe('blocked');
    });

    it('should never surface the unique violation to the login', async () => {
      const { developer } = await preProvisioned([
        { externalId: true, active: false },
        { email: true, active: true },
      ]);

      const { second } = await concurrently(developer, () => scimUsers.atLogin(developer));

      expect(second.error).not.toBeInstanceOf(QueryFailedError);
      expect(second.error).toMatchObject({ code: 'developer_blocked' });
    });
  });

  /**
   * Waits until a session on the test database waits for a lock (the second transaction is
   * blocked behind the first), or until `done` says the second one finished without waiting.
   */
  async function waitForLockWaiters(n: number, done: () => boolean = () => false): Promise<void> {
    for (let i = 0; i < 400 && !done(); i++) {
      const [{ waiting }] = await ds.query<{ waiting: number }[]>(
        `SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (waiting >= n) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    if (!done()) throw new Error('nothing ever waited for the lock');
  }
});
