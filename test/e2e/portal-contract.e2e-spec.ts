import { DomainError } from '@app/common';
import { BrokerConfigModule } from '@app/config';
import {
  IdentityActionsService,
  OrganisationSyncService,
  PAGES_PER_LOOKUP,
  TykPortalClient,
  TykPortalModule,
  type ActionIdentity,
  type ActionProfile,
} from '@app/tyk-portal';
import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';
import { testConfig } from '@test/support/broker.js';

/**
 * The broker against the portal's published contract (specs/tyk-portal.md §E), with the emulator
 * switched between the plausible behaviours where the real portal's is unknown (issue 15, items
 * 1-3, 5, 7, 8) and the per-login cost of finding a portal user by email (issue 13, finding 14).
 */

const API_SECRET = 'contract-api-secret-1234';
const ADMIN_TOKEN = 'contract-admin-token-5678';
const ISSUER = 'https://idp.example/tenant/workspace';

interface Harness {
  module: TestingModule;
  client: TykPortalClient;
  actions: IdentityActionsService;
  sync: OrganisationSyncService;
}

async function harness(portal: PortalEmulator, env: Record<string, string> = {}): Promise<Harness> {
  const u = new URL(portal.url);
  const module = await Test.createTestingModule({
    imports: [
      BrokerConfigModule.forRoot(
        testConfig({
          TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${u.protocol}//${u.hostname}`,
          TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: u.port,
          TYK_PORTAL_ADMIN_TOKEN: ADMIN_TOKEN,
          TYK_PORTAL_TIMEOUT_MS: '400',
          TYK_PORTAL_RETRIES: '0',
          ...env,
        }),
      ),
      TykPortalModule.forRoot(),
    ],
  }).compile();
  await module.init();
  return {
    module,
    client: module.get(TykPortalClient),
    actions: module.get(IdentityActionsService),
    sync: module.get(OrganisationSyncService),
  };
}

async function failure(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected a DomainError');
}

function identity(over: Partial<ActionIdentity> = {}): ActionIdentity {
  return {
    email: 'ada@example.com',
    userId: 'sub-ada',
    displayName: 'Ada Lovelace',
    groupIds: [],
    provider: 'openid-connect',
    ...over,
    rawEmail: over.rawEmail ?? over.email ?? 'ada@example.com',
  };
}

function profile(portal: PortalEmulator, over: Partial<ActionProfile> = {}): ActionProfile {
  return {
    ID: 'contract',
    ActionType: 'GenerateOrLoginDeveloperProfile',
    OrgID: '',
    ReturnURL: `${portal.url}/sso`,
    IdentityHandlerConfig: { DashboardCredential: API_SECRET },
    SSOOnlyForRegisteredUsers: false,
    MatchedPolicyID: '',
    ...over,
  };
}

const routes = (portal: PortalEmulator) => portal.requests.map((r) => `${r.method} ${r.path}`);

describe('the portal contract (§E) against each plausible portal behaviour (e2e)', () => {
  beforeAll(() => Logger.overrideLogger(['error']));

  describe.each([
    ['ids', 'ignore'],
    ['ids', 'reject'],
    ['names', 'ignore'],
    ['names', 'reject'],
  ] as const)('Teams on user updates: portal takes %s, other form: %s (E1)', (teamsWrite, unknownTeams) => {
    let portal: PortalEmulator;
    let h: Harness;

    beforeAll(async () => {
      portal = await startPortalEmulator({
        apiSecret: API_SECRET,
        adminToken: ADMIN_TOKEN,
        contract: { teamsWrite, unknownTeams },
      });
      h = await harness(portal);
    });

    afterAll(async () => {
      await h.module.close();
      await portal.stop();
    });

    it('should send strings, settle the form by reading back, remember it, and put the user in the team', async () => {
      const org = await h.client.createOrganisation('Form Org');
      const team = await h.client.createTeam(org.ID, 'Form Team');
      const users = ['one', 'two'].map(
        (n) =>
          portal.state.createUser({
            Email: `${n}@form.example`,
            Role: 'consumer-team-member',
            OrganisationID: 1,
            Active: true,
          }).ID,
      );
      expect(h.client.teamsWriteForm()).toBeNull();

      const move = await h.sync.moveUserIfNeeded(String(users[0]), { portalOrgId: org.ID, portalTeamId: team.ID });
      expect(move.moved).toBe(true);
      expect(portal.state.getUser(users[0])).toMatchObject({
        OrganisationID: Number(org.ID),
        Teams: [Number(team.ID)],
      });
      const puts = portal.requests.filter((r) => r.method === 'PUT');
      for (const put of puts) {
        for (const t of (put.body as { Teams: unknown[] }).Teams) expect(typeof t).toBe('string');
      }
      // The first write is ids (the spec's current wording); a names portal needs a second.
      expect(puts.map((p) => (p.body as { Teams: string[] }).Teams)).toEqual(
        teamsWrite === 'ids' ? [[team.ID]] : [[team.ID], ['Form Team']],
      );
      expect(h.client.teamsWriteForm()).toBe(teamsWrite);

      // Remembered: the next user update goes out in the right form at once.
      portal.requests.splice(0);
      await h.sync.moveUserIfNeeded(String(users[1]), { portalOrgId: org.ID, portalTeamId: team.ID });
      const next = portal.requests.filter((r) => r.method === 'PUT');
      expect(next.map((p) => (p.body as { Teams: string[] }).Teams)).toEqual([
        teamsWrite === 'ids' ? [team.ID] : ['Form Team'],
      ]);
      expect(portal.state.getUser(users[1]).Teams).toEqual([Number(team.ID)]);
    });

    it('should forget the remembered form when the portal changes it (an upgrade) and settle on the other (E1)', async () => {
      const other = teamsWrite === 'ids' ? 'names' : 'ids';
      const org = await h.client.createOrganisation('Upgrade Org');
      const team = await h.client.createTeam(org.ID, 'Upgrade Team');
      const [first, second] = ['three', 'four'].map(
        (n) =>
          portal.state.createUser({
            Email: `${n}@form.example`,
            Role: 'consumer-team-member',
            OrganisationID: 1,
            Active: true,
          }).ID,
      );
      await h.sync.moveUserIfNeeded(String(first), { portalOrgId: org.ID, portalTeamId: team.ID });
      expect(h.client.teamsWriteForm()).toBe(teamsWrite);

      portal.setContract({ teamsWrite: other });
      portal.requests.splice(0);
      const move = await h.sync.moveUserIfNeeded(String(second), { portalOrgId: org.ID, portalTeamId: team.ID });
      expect(move.moved).toBe(true);
      expect(portal.state.getUser(second)).toMatchObject({ OrganisationID: Number(org.ID), Teams: [Number(team.ID)] });
      const puts = portal.requests.filter((r) => r.method === 'PUT').map((p) => (p.body as { Teams: string[] }).Teams);
      const ids = [team.ID];
      const names = ['Upgrade Team'];
      expect(puts).toEqual(teamsWrite === 'ids' ? [ids, names] : [names, ids]);
      expect(h.client.teamsWriteForm()).toBe(other);
      portal.setContract({ teamsWrite });
    });
  });

  describe.each([
    ['ids', 'ignore'],
    ['ids', 'reject'],
    ['names', 'ignore'],
    ['names', 'reject'],
  ] as const)(
    'Active on a user with teams: portal takes %s, other form: %s (E1, deprovisioning)',
    (teamsWrite, unknownTeams) => {
      let portal: PortalEmulator;
      let h: Harness;
      let seq = 0;

      beforeAll(async () => {
        portal = await startPortalEmulator({
          apiSecret: API_SECRET,
          adminToken: ADMIN_TOKEN,
          contract: { teamsWrite, unknownTeams },
        });
        h = await harness(portal);
      });

      afterAll(async () => {
        await h.module.close();
        await portal.stop();
      });

      /** setUserActive as the outbox worker runs it: tried again after each failure, until it returns. */
      async function untilDone(id: string, active: boolean): Promise<number> {
        for (let attempt = 1; attempt <= 5; attempt++) {
          try {
            await h.client.setUserActive(id, active);
            return attempt;
          } catch {
            // The worker retries the row later.
          }
        }
        throw new Error('setUserActive never succeeded');
      }

      it.each([0, 1, 2, 3])(
        'should deactivate and reactivate with the teams intact when PUT number %i fails (0: none)',
        async (failing) => {
          seq++;
          const org = await h.client.createOrganisation(`Keep Org ${seq}`);
          const team = await h.client.createTeam(org.ID, `Keep Team ${seq}`);
          const user = portal.state.createUser({
            Email: `keep${seq}@form.example`,
            Role: 'consumer-team-member',
            OrganisationID: Number(org.ID),
            Active: true,
          });
          portal.state.getUser(user.ID).Teams = [Number(team.ID)];
          const teams = [Number(team.ID)];
          for (const active of [false, true]) {
            portal.setFaults(
              failing === 0
                ? { paths: ['/nothing'] }
                : { failStatus: 500, methods: ['PUT'], paths: ['/portal-api/users/'], skip: failing - 1, times: 1 },
            );
            await untilDone(String(user.ID), active);
            portal.clearFaults();
            expect(portal.state.getUser(user.ID)).toMatchObject({ Active: active, Teams: teams });
            // Already done: a further attempt changes nothing.
            expect((await h.client.setUserActive(String(user.ID), active)).outcome).toBe('unchanged');
            expect(portal.state.getUser(user.ID)).toMatchObject({ Active: active, Teams: teams });
          }
        },
      );
    },
  );

  describe('one emulator', () => {
    let portal: PortalEmulator;
    let h: Harness;

    beforeAll(async () => {
      portal = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
      h = await harness(portal);
    });

    afterAll(async () => {
      await h.module.close();
      await portal.stop();
    });

    beforeEach(() => {
      portal.clearFaults();
      portal.setContract({ maxPerPage: 20, perPageOverMax: 'clamp' });
      portal.requests.splice(0);
    });

    it('should read every item when the portal caps per_page below what was asked, until an empty page (E2)', async () => {
      for (let i = 0; i < 45; i++) await h.client.createOrganisation(`Capped ${i}`);
      const total = portal.state.listOrgs().length;
      portal.requests.splice(0);
      const orgs = await h.client.listOrganisations(100);
      expect(orgs.map((o) => o.ID)).toEqual(portal.state.listOrgs().map((o) => String(o.ID)));
      expect(routes(portal)).toHaveLength(Math.ceil(total / 20) + 1);
      for (const r of portal.requests) expect(r.path).toBe('/portal-api/organisations');
    });

    it('should ask for JSON on every call (E10) and not call /admin/sso, which the portal does not serve (E9)', async () => {
      await h.client.listTeams('1');
      await failure(
        h.client.createNonce(
          {
            ForSection: 'portal',
            OrgID: '',
            EmailAddress: 'x@example.com',
            DisplayName: 'X',
            GroupID: '999',
            GroupsIDs: ['999'],
            SSOOnlyForRegisteredUsers: false,
          },
          API_SECRET,
        ),
      );
      // A list is read until an empty page (E2): two pages for a one-page list.
      expect(routes(portal)).toEqual([
        'GET /portal-api/organisations/1/teams',
        'GET /portal-api/organisations/1/teams',
        'POST /api/sso',
      ]);
      for (const r of portal.requests) expect(r.headers.accept).toBe('application/json');
      const admin = await fetch(`${portal.url}/admin/sso`, { method: 'POST', headers: { 'admin-auth': 'x' } });
      expect(admin.status).toBe(404);
    });

    it('should switch the contract over HTTP for a child-process emulator, and refuse a bad one', async () => {
      const post = (body: unknown) =>
        fetch(`${portal.url}/__emulator/contract`, {
          method: 'POST',
          headers: { Authorization: ADMIN_TOKEN, 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
      const ok = await post({
        teamsWrite: 'names',
        maxPerPage: 5,
        adminDeveloperSso: 'login',
        deactivationEndsSessions: true,
      });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({
        teamsWrite: 'names',
        unknownTeams: 'ignore',
        maxPerPage: 5,
        perPageOverMax: 'clamp',
        adminDeveloperSso: 'login',
        deactivationEndsSessions: true,
      });
      expect((await post({ teamsWrite: 'numbers' })).status).toBe(422);
      expect((await post({ maxPerPage: 0 })).status).toBe(422);
      expect((await post({ perPageOverMax: 'truncate' })).status).toBe(422);
      expect((await post({ adminDeveloperSso: 'demote' })).status).toBe(422);
      expect((await post({ deactivationEndsSessions: 'yes' })).status).toBe(400);
      expect((await post({ perPageOverMax: 'reject' })).status).toBe(200);
      portal.setContract({
        teamsWrite: 'ids',
        maxPerPage: 20,
        perPageOverMax: 'clamp',
        adminDeveloperSso: 'refuse',
        deactivationEndsSessions: false,
      });
      expect(portal.state.contract).toEqual({
        teamsWrite: 'ids',
        unknownTeams: 'ignore',
        maxPerPage: 20,
        perPageOverMax: 'clamp',
        adminDeveloperSso: 'refuse',
        deactivationEndsSessions: false,
      });
    });

    it.each([400, 404, 410, 422])(
      'should take a %i on the SSO-key lookup as "not found" and create the developer, as TIB does (E3)',
      async (status) => {
        portal.setFaults({ failStatus: status, paths: ['/api/portal/developers/ssokey/'] });
        const email = `unknown-${status}@example.com`;
        const result = await h.actions.run('GenerateOrLoginDeveloperProfile', {
          identity: identity({ email, rawEmail: email, userId: `sub-${status}` }),
          profile: profile(portal),
        });
        expect(result.kind === 'redirect' && result.portal?.developerCreated).toBe(true);
        expect(routes(portal)).toEqual([
          'POST /api/sso',
          `GET /api/portal/developers/ssokey/sub-${status}%40openid-connect.com`,
          'POST /api/portal/developers',
        ]);
      },
    );

    it.each([
      [401, 'portal_auth_failed'],
      [403, 'portal_auth_failed'],
      [500, 'portal_unreachable'],
      [503, 'portal_unreachable'],
    ] as const)('should fail a %i on the SSO-key lookup with %s and create nothing (E3)', async (status, code) => {
      portal.setFaults({ failStatus: status, paths: ['/api/portal/developers/ssokey/'] });
      const before = portal.state.users.size;
      const error = await failure(
        h.actions.run('GenerateOrLoginDeveloperProfile', {
          identity: identity({ email: `fail-${status}@example.com`, userId: `fail-${status}` }),
          profile: profile(portal),
        }),
      );
      expect(error.code).toBe(code);
      expect(routes(portal)).not.toContain('POST /api/portal/developers');
      expect(portal.state.users.size).toBe(before);
    });

    it('should fail a slow SSO-key lookup with portal_timeout and create nothing (E3)', async () => {
      portal.setFaults({ latencyMs: 1500, paths: ['/api/portal/developers/ssokey/'] });
      const error = await failure(
        h.actions.run('GenerateOrLoginDeveloperProfile', {
          identity: identity({ email: 'slow@example.com', userId: 'slow' }),
          profile: profile(portal),
        }),
      );
      expect(error.code).toBe('portal_timeout');
      expect(routes(portal)).not.toContain('POST /api/portal/developers');
    });

    it('should treat developer ids as opaque 24-hex strings on the developer API (E5)', async () => {
      const input = { identity: identity({ email: 'hex@example.com', userId: 'hex' }), profile: profile(portal) };
      await h.actions.run('GenerateOrLoginDeveloperProfile', input);
      portal.requests.splice(0);
      const again = await h.actions.run('GenerateOrLoginDeveloperProfile', input);
      const user = portal.state.findUserByEmail('hex@example.com')!;
      const developerId = portal.state.developers.get(user.ID)!.id;
      expect(developerId).toMatch(/^[0-9a-f]{24}$/);
      expect(again.kind === 'redirect' && again.portal?.developerId).toBe(developerId);
      expect(routes(portal)).toContain(`PUT /api/portal/developers/${developerId}`);
    });

    it('should refuse an unregistered developer itself when the profile asks, before any nonce (E7)', async () => {
      const registeredOnly = profile(portal, { SSOOnlyForRegisteredUsers: true });
      const error = await failure(
        h.actions.run('GenerateOrLoginDeveloperProfile', {
          identity: identity({ email: 'stranger@example.com', userId: 'stranger' }),
          profile: registeredOnly,
        }),
      );
      expect(error.code).toBe('developer_not_registered');
      expect(routes(portal)).not.toContain('POST /api/sso');
      expect(portal.state.findUserByEmail('stranger@example.com')).toBeUndefined();

      // A registered developer (an account made in the portal, never signed in by SSO) gets in.
      portal.state.createUser({
        Email: 'Member@Example.com',
        Role: 'consumer-team-member',
        OrganisationID: 1,
        Active: true,
      });
      const ok = await h.actions.run('GenerateOrLoginDeveloperProfile', {
        identity: identity({ email: 'member@example.com', rawEmail: 'member@example.com', userId: 'member' }),
        profile: registeredOnly,
      });
      expect(ok.kind).toBe('redirect');
      // And one known by SSO key, on the next login.
      const again = await h.actions.run('GenerateOrLoginDeveloperProfile', {
        identity: identity({ email: 'member@example.com', rawEmail: 'member@example.com', userId: 'member' }),
        profile: registeredOnly,
      });
      expect(again.kind === 'redirect' && again.portal?.developerCreated).toBe(false);
    });

    it('should not walk the portal for an organisation id named like an Object property (issue 13, finding 7)', async () => {
      for (const orgId of ['constructor', '__proto__', 'toString']) {
        portal.requests.splice(0);
        const result = await h.sync.resolve({
          issuer: ISSUER,
          settings: { enabled: true, idClaim: 'o', nameClaim: 'n', teamMapping: { acme: '1' } },
          organisationId: orgId,
          organisationName: `Org ${orgId}`,
        });
        // An unmapped organisation: one new portal organisation and its teams, no walk of every organisation.
        expect(result).toMatchObject({ source: 'created', created: true });
        expect(routes(portal)).toEqual([
          'POST /portal-api/organisations',
          `GET /portal-api/organisations/${result!.portalOrgId}/teams`,
          `GET /portal-api/organisations/${result!.portalOrgId}/teams`,
        ]);
      }
    });

    it('should take the organisation id as given, never merge " acme" into "acme" (review finding 4)', async () => {
      // mapIdentity refuses such an id; the sync, told one anyway, must not trim it into another's.
      const settings = { enabled: true, idClaim: 'o', nameClaim: 'n' };
      const plain = await h.sync.resolve({ issuer: ISSUER, settings, organisationId: 'pad-id', organisationName: 'P' });
      const padded = await h.sync.resolve({
        issuer: ISSUER,
        settings,
        organisationId: ' pad-id',
        organisationName: 'Q',
      });
      expect(padded!.portalOrgId).not.toBe(plain!.portalOrgId);
    });

    it("should keep two IdPs' organisations with the same id apart (issue 13, finding 7)", async () => {
      const settings = { enabled: true, idClaim: 'o', nameClaim: 'n' };
      const a = await h.sync.resolve({ issuer: ISSUER, settings, organisationId: 'same-id', organisationName: 'A' });
      const b = await h.sync.resolve({
        issuer: 'https://other-idp.example',
        settings,
        organisationId: 'same-id',
        organisationName: 'B',
      });
      expect(a!.portalOrgId).not.toBe(b!.portalOrgId);
      const again = await h.sync.resolve({ issuer: ISSUER, settings, organisationId: 'same-id' });
      expect(again).toMatchObject({ portalOrgId: a!.portalOrgId, source: 'link' });
    });
  });

  describe('a portal that refuses a per_page above its maximum instead of capping it (E2, E13)', () => {
    let portal: PortalEmulator;

    beforeEach(async () => {
      portal = await startPortalEmulator({
        apiSecret: API_SECRET,
        adminToken: ADMIN_TOKEN,
        contract: { maxPerPage: 20, perPageOverMax: 'reject' },
      });
    });

    afterEach(() => portal.stop());

    const pageSizes = () => portal.requests.map((r) => new URLSearchParams(r.query).get('per_page'));

    it('should ask again with the documented default of 20 and read every item, then ask for 20 from the start', async () => {
      for (let i = 0; i < 45; i++) portal.state.createOrg(`Refusing ${i}`);
      const total = portal.state.listOrgs().length;
      const h = await harness(portal);
      try {
        portal.requests.splice(0);
        const orgs = await h.client.listOrganisations();
        expect(orgs.map((o) => o.ID)).toEqual(portal.state.listOrgs().map((o) => String(o.ID)));
        const pages = Math.ceil(total / 20) + 1;
        // per_page=100 refused (422), page 1 asked again at 20, then the rest at 20.
        expect(pageSizes()).toEqual(['100', ...Array<string>(pages).fill('20')]);
        // Remembered: the next walk asks for 20 straight away.
        portal.requests.splice(0);
        expect(await h.client.listOrganisations()).toHaveLength(total);
        expect(pageSizes()).toEqual(Array<string>(pages).fill('20'));
      } finally {
        await h.module.close();
      }
    });

    it('should find a portal user by email on the login path (the user directory) on such a portal', async () => {
      for (let i = 0; i < 70; i++) {
        portal.state.createUser({ Email: `u${i}@refusing.example`, Role: 'consumer-team-member', OrganisationID: 1 });
      }
      const wanted = portal.state.createUser({
        Email: 'wanted@refusing.example',
        Role: 'consumer-team-member',
        OrganisationID: 1,
      });
      const h = await harness(portal);
      try {
        expect(await h.sync.findPortalUserIdByEmail('wanted@refusing.example')).toBe(String(wanted.ID));
        const sizes = pageSizes();
        expect(sizes[0]).toBe('100');
        expect(sizes.slice(1).length).toBeGreaterThan(0);
        expect(new Set(sizes.slice(1))).toEqual(new Set(['20']));
      } finally {
        await h.module.close();
      }
    });
  });

  describe('finding a portal user by email costs the same on any portal size (issue 13, finding 14)', () => {
    async function lookupCost(users: number) {
      const portal = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
      for (let i = 0; i < users; i++) {
        portal.state.createUser({ Email: `u${i}@big.example`, Role: 'consumer-team-member', OrganisationID: 1 });
      }
      const h = await harness(portal);
      try {
        const count = async (fn: () => Promise<unknown>) => {
          portal.requests.splice(0);
          await fn();
          return portal.requests.filter((r) => r.path === '/portal-api/users').length;
        };
        // The first lookup of the process also finds the last page (pages 1, 2, 4, … then bisection).
        const first = await count(() => h.sync.findPortalUserIdByEmail('absent-0@example.com'));
        const misses: number[] = [];
        for (let i = 1; i <= 5; i++) {
          misses.push(await count(() => h.sync.findPortalUserIdByEmail(`absent-${i}@example.com`)));
        }
        const repeated = await count(() => h.sync.findPortalUserIdByEmail('absent-1@example.com'));
        // A user the portal creates now is appended at the end: found on the tail page.
        const fresh = portal.state.createUser({
          Email: 'fresh@big.example',
          Role: 'consumer-team-member',
          OrganisationID: 1,
        });
        let found: string | null = null;
        const newcomer = await count(async () => {
          found = await h.sync.findPortalUserIdByEmail('fresh@big.example');
        });
        return { first, misses, repeated, newcomer, found, freshId: String(fresh.ID) };
      } finally {
        await h.module.close();
        await portal.stop();
      }
    }

    it('should read every page once for exhaustive misses of many emails, then only the tail, sharing one walk at a time', async () => {
      const portal = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
      for (let i = 0; i < 2_000; i++) {
        portal.state.createUser({ Email: `u${i}@walk.example`, Role: 'consumer-team-member', OrganisationID: 1 });
      }
      const count = async (fn: () => Promise<unknown>) => {
        portal.requests.splice(0);
        await fn();
        return portal.requests.filter((r) => r.path === '/portal-api/users').length;
      };
      const exhaustive = (h: Harness, email: string) => h.sync.findPortalUserIdByEmail(email, { exhaustive: true });
      const h = await harness(portal);
      const other = await harness(portal);
      try {
        // 2,000 users at the portal's 20 per page: 100 pages and the empty one after them.
        expect(await count(() => exhaustive(h, 'stranger-0@example.com'))).toBe(101);
        // Identities the portal does not know (anyone who can create IdP accounts): the tail only.
        for (let i = 1; i <= 5; i++) {
          expect(await count(() => exhaustive(h, `stranger-${i}@example.com`))).toBeLessThanOrEqual(2);
        }
        // A user added since is at the end of the list, and found there.
        const late = portal.state.createUser({
          Email: 'late@walk.example',
          Role: 'consumer-team-member',
          OrganisationID: 1,
        });
        expect(await exhaustive(h, 'late@walk.example')).toBe(String(late.ID));
        // Another process: five concurrent exhaustive misses share one walk of every page.
        const concurrent = await count(() =>
          Promise.all([1, 2, 3, 4, 5].map((i) => exhaustive(other, `concurrent-${i}@example.com`))),
        );
        expect(concurrent).toBeLessThanOrEqual(101 + 5 * 2);
        // An existing user anywhere in the list is still found by an exhaustive lookup.
        expect(await exhaustive(other, 'u7@walk.example')).not.toBeNull();
      } finally {
        await h.module.close();
        await other.module.close();
        await portal.stop();
      }
    });

    it('should read at most a few pages per login for a miss, none for a repeated miss, on 100 or 100,000 users', async () => {
      const small = await lookupCost(100);
      const large = await lookupCost(100_000);
      for (const cost of [small, large]) {
        for (const m of cost.misses) expect(m).toBeLessThanOrEqual(PAGES_PER_LOOKUP);
        expect(cost.repeated).toBe(0);
        expect(cost.newcomer).toBeLessThanOrEqual(PAGES_PER_LOOKUP);
        expect(cost.found).toBe(cost.freshId);
      }
      expect(large.misses).toEqual(small.misses);
      // 100,000 users at the portal's 20 per page are 5,000 pages; finding the end once took ~2·log2 of that.
      expect(large.first).toBeLessThanOrEqual(PAGES_PER_LOOKUP + 2 * Math.ceil(Math.log2(5_000)) + 2);
    });
  });
});
