import { DomainError } from '@app/common';
import { DevelopersService, type RecordLoginInput } from '@app/developers';
import { TykPortalClient } from '@app/tyk-portal';
import { Module, type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '@app/database';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp, listenLikeBroker } from '@test/support/lib-app.js';
import { DeprovisioningWorker } from '../deprovisioning.worker.js';
import { ProvisioningModule } from '../provisioning.module.js';
import type { TokenRevoker } from '../token-revoker.js';
import { scimBodyParser } from './scim-body.js';
import { ScimUsersService } from './scim-users.service.js';

/**
 * SCIM clients scoped to an issuer (BROKER_SCIM_ISSUERS) with two IdPs whose developers share a
 * subject or a verified email (real Postgres, real HTTP): a scoped client's user links only to the
 * developer of its issuer, at its creation and at a login, and the client sees and changes only
 * its own users. A client left unscoped links across issuers, as before.
 */
const ENTRA = 'entra-scim-token-0123456789abcdefghijklmnop';
const OKTA = 'okta-scim-token-0123456789abcdefghijklmnopq';
const LEGACY = 'legacy-scim-token-0123456789abcdefghijklmno';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ISSUER_A = 'https://login.microsoftonline.com/tenant-a/v2.0';
const ISSUER_B = 'https://acme.okta.com';

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
const unique = (what: string) => `${what}-${++seq}`;

function login(issuer: string, subject: string, email: string): RecordLoginInput {
  return {
    issuer,
    subject,
    email,
    emailVerified: true,
    name: subject,
    organisationId: null,
    organisationName: null,
    ssoKey: null,
  };
}

describe('SCIM clients scoped to an issuer (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let url: string;
  let developers: DevelopersService;
  let scimUsers: ScimUsersService;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('scimiss');
    app = await createLibApp(db, ProvisioningModule.forRoot({ imports: [NoPortalModule], tokenRevoker: NoRevoker }), {
      BROKER_SCIM_TOKENS: `entra:${ENTRA},okta:${OKTA},legacy:${LEGACY}`,
      BROKER_SCIM_ISSUERS: `entra=${ISSUER_A},okta=${ISSUER_B}`,
      BROKER_PUBLIC_URL: 'https://sso.example',
    });
    app.use('/scim', ...scimBodyParser(64 * 1024));
    url = await listenLikeBroker(app, {});
    await app.get(DeprovisioningWorker).onApplicationShutdown();
    developers = app.get(DevelopersService);
    scimUsers = app.get(ScimUsersService);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  async function scim(token: string, method: string, path: string, body?: unknown) {
    const res = await fetch(`${url}/scim/v2${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/scim+json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  }

  async function create(token: string, user: { externalId?: string; email?: string; active: boolean }) {
    const created = await scim(token, 'POST', '/Users', {
      schemas: [USER],
      userName: `${unique('user')}@example.org`,
      ...(user.externalId ? { externalId: user.externalId } : {}),
      ...(user.email ? { emails: [{ value: user.email, type: 'work', primary: true }] } : {}),
      active: user.active,
    });
    expect(created.status).toBe(201);
    return created.body!.id as string;
  }

  const linkOf = async (id: string) =>
    (
      await ds.query<{ developer_id: string | null }[]>(`SELECT developer_id::text FROM scim_users WHERE id = $1`, [id])
    )[0].developer_id;

  /** Signs the developer in as the login path does; the code of a refused login, else 'ok'. */
  async function signIn(developer: { id: string; issuer: string; subject: string; email: string | null }) {
    try {
      await scimUsers.atLogin({ ...developer, emailVerified: true });
      return 'ok';
    } catch (e) {
      if (e instanceof DomainError) return e.code;
      throw e;
    }
  }

  describe('at SCIM create', () => {
    it("should link by externalId only to a developer of the client's issuer", async () => {
      const subject = unique('sub');
      const { developer: b } = await developers.recordLogin(login(ISSUER_B, subject, `${unique('b')}@example.com`));
      // Only IdP B's developer has the subject: IdP A's client must not take them.
      const early = await create(ENTRA, { externalId: subject, active: true });
      expect(await linkOf(early)).toBeNull();
      await scim(ENTRA, 'DELETE', `/Users/${early}`);

      const { developer: a } = await developers.recordLogin(login(ISSUER_A, subject, `${unique('a')}@example.com`));
      const id = await create(ENTRA, { externalId: subject, active: false });
      expect(await linkOf(id)).toBe(a.id);
      expect((await developers.get(a.id)).status).toBe('blocked');
      expect((await developers.get(b.id)).status).toBe('active');
    });

    it("should link by verified email only to a developer of the client's issuer", async () => {
      const email = `${unique('shared')}@example.com`;
      const { developer: a } = await developers.recordLogin(login(ISSUER_A, unique('sub'), email));
      const { developer: b } = await developers.recordLogin(login(ISSUER_B, unique('sub'), email));
      expect(await linkOf(await create(OKTA, { email, active: true }))).toBe(b.id);
      expect(await linkOf(await create(ENTRA, { email, active: true }))).toBe(a.id);
    });

    it('should link across issuers for a client without an issuer, as before', async () => {
      const subject = unique('sub');
      const { developer: b } = await developers.recordLogin(login(ISSUER_B, subject, `${unique('b')}@example.com`));
      expect(await linkOf(await create(LEGACY, { externalId: subject, active: true }))).toBe(b.id);
    });
  });

  describe('at login', () => {
    it("should not link another issuer's developer with the same subject, and link the right one", async () => {
      const subject = unique('sub');
      const id = await create(ENTRA, { externalId: subject, active: false });
      const { developer: b } = await developers.recordLogin(login(ISSUER_B, subject, `${unique('b')}@example.com`));
      expect(await signIn(b)).toBe('ok');
      expect(await linkOf(id)).toBeNull();

      const { developer: a } = await developers.recordLogin(login(ISSUER_A, subject, `${unique('a')}@example.com`));
      expect(await signIn(a)).toBe('developer_blocked');
      expect(await linkOf(id)).toBe(a.id);
      // Deprovisioning reaches the IdP-A developer, and only them.
      expect((await scim(ENTRA, 'DELETE', `/Users/${id}`)).status).toBe(204);
      expect((await developers.get(a.id)).status).toBe('blocked');
      expect((await developers.get(b.id)).status).toBe('active');
    });

    it("should not link another issuer's developer with the same verified email", async () => {
      const email = `${unique('shared')}@example.com`;
      const id = await create(OKTA, { email, active: false });
      const { developer: a } = await developers.recordLogin(login(ISSUER_A, unique('sub'), email));
      expect(await signIn(a)).toBe('ok');
      expect(await linkOf(id)).toBeNull();
      const { developer: b } = await developers.recordLogin(login(ISSUER_B, unique('sub'), email));
      expect(await signIn(b)).toBe('developer_blocked');
      expect(await linkOf(id)).toBe(b.id);
    });

    it("should link a user of a client without an issuer at any issuer's login, as before", async () => {
      const subject = unique('sub');
      const id = await create(LEGACY, { externalId: subject, active: true });
      const { developer: b } = await developers.recordLogin(login(ISSUER_B, subject, `${unique('b')}@example.com`));
      expect(await signIn(b)).toBe('ok');
      expect(await linkOf(id)).toBe(b.id);
    });
  });

  describe('what a scoped client sees and changes', () => {
    it("should answer 404 for another client's user and leave its developer alone", async () => {
      const subject = unique('sub');
      const { developer: a } = await developers.recordLogin(login(ISSUER_A, subject, `${unique('a')}@example.com`));
      const id = await create(ENTRA, { externalId: subject, active: true });
      expect(await linkOf(id)).toBe(a.id);

      expect((await scim(OKTA, 'GET', `/Users/${id}`)).status).toBe(404);
      const deactivate = { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] };
      expect((await scim(OKTA, 'PATCH', `/Users/${id}`, deactivate)).status).toBe(404);
      expect((await scim(OKTA, 'PUT', `/Users/${id}`, { schemas: [USER], userName: 'x@example.org' })).status).toBe(
        404,
      );
      expect((await scim(OKTA, 'DELETE', `/Users/${id}`)).status).toBe(404);
      const filter = encodeURIComponent(`externalId eq "${subject}"`);
      expect((await scim(OKTA, 'GET', `/Users?filter=${filter}`)).body).toMatchObject({ totalResults: 0 });
      expect((await developers.get(a.id)).status).toBe('active');

      // Its own client and an unscoped one still see it.
      expect((await scim(ENTRA, 'GET', `/Users?filter=${filter}`)).body).toMatchObject({ totalResults: 1 });
      expect((await scim(LEGACY, 'GET', `/Users/${id}`)).status).toBe(200);
    });

    it('should take over a user of no recorded client that it changes, and scope its link from then on', async () => {
      const subject = unique('sub');
      // A user created before the client was recorded (and whose creation event is gone).
      const [{ id }] = await ds.query<{ id: string }[]>(
        `INSERT INTO scim_users (user_name, external_id, active) VALUES ($1, $2, true) RETURNING id::text AS id`,
        [`${unique('old')}@example.org`, subject],
      );
      // Unlinked: a scoped client may see it.
      const deactivate = { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] };
      expect((await scim(OKTA, 'PATCH', `/Users/${id}`, deactivate)).status).toBe(200);
      const [{ client }] = await ds.query<{ client: string }[]>(`SELECT client FROM scim_users WHERE id = $1`, [id]);
      expect(client).toBe('okta');
      const { developer: a } = await developers.recordLogin(login(ISSUER_A, subject, `${unique('a')}@example.com`));
      expect(await signIn(a)).toBe('ok');
      expect(await linkOf(id)).toBeNull();
    });

    it('should fill the client on upgrade from the scim.user_created audit event, else leave it unknown', async () => {
      const migration = new (MIGRATIONS.find((m) => m.name === 'ScimUsersClient1797000017800')!)();
      const byEntra = await create(ENTRA, { active: true });
      const byLegacy = await create(LEGACY, { active: true });
      const [{ id: noEvent }] = await ds.query<{ id: string }[]>(
        `INSERT INTO scim_users (user_name, active) VALUES ($1, true) RETURNING id::text AS id`,
        [`${unique('old')}@example.org`],
      );
      const owner = await new DataSource({ type: 'postgres', url: db.migrationUrl }).initialize();
      const runner = owner.createQueryRunner();
      try {
        await migration.down(runner);
        await migration.up(runner);
      } finally {
        await runner.release();
        await owner.destroy();
      }
      const rows = await ds.query<{ id: string; client: string | null }[]>(
        `SELECT id::text AS id, client FROM scim_users WHERE id = ANY($1::uuid[])`,
        [[byEntra, byLegacy, noEvent]],
      );
      expect(Object.fromEntries(rows.map((r) => [r.id, r.client]))).toEqual({
        [byEntra]: 'entra',
        [byLegacy]: 'legacy',
        [noEvent]: null,
      });
    });

    it("should hide a user of no recorded client linked to another issuer's developer", async () => {
      const subject = unique('sub');
      const { developer: a } = await developers.recordLogin(login(ISSUER_A, subject, `${unique('a')}@example.com`));
      const [{ id }] = await ds.query<{ id: string }[]>(
        `INSERT INTO scim_users (user_name, external_id, active, developer_id)
         VALUES ($1, $2, true, $3) RETURNING id::text AS id`,
        [`${unique('old')}@example.org`, subject, a.id],
      );
      expect((await scim(OKTA, 'DELETE', `/Users/${id}`)).status).toBe(404);
      expect((await developers.get(a.id)).status).toBe('active');
      expect((await scim(ENTRA, 'GET', `/Users/${id}`)).status).toBe(200);
    });
  });
});
