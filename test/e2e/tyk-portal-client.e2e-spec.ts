import { DomainError } from '@app/common';
import { BrokerConfigModule } from '@app/config';
import {
  IdentityActionsService,
  OrganisationSyncService,
  TOKEN_CACHE,
  TykPortalClient,
  TykPortalModule,
  buildTykSession,
  goJsonStringify,
  tokenCacheKey,
  type ActionIdentity,
  type ActionProfile,
  type IdentityActionInput,
  type TokenCache,
  type TykCallEvent,
} from '@app/tyk-portal';
import type { LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';
import { testConfig } from '@test/support/broker.js';

const API_SECRET = 'portal-api-secret-1234';
const ADMIN_TOKEN = 'portal-admin-token-5678';
const DASH_ADMIN_SECRET = 'dash-admin-secret-9012';
const GATEWAY_SECRET = 'gateway-secret-3456';
const IDP_ISSUER = 'https://idp.example/tenant/workspace';

/** TIB's SSOAccessData field order (tib.md §5.1). */
const SSO_FIELDS = [
  'ForSection',
  'OrgID',
  'EmailAddress',
  'DisplayName',
  'GroupID',
  'GroupsIDs',
  'SSOOnlyForRegisteredUsers',
];
/** TIB's PortalDeveloper field order (tyk-api/tyk_api.go; oauth_clients, omitempty, is absent here). */
const DEVELOPER_FIELDS = [
  'id',
  'email',
  'date_created',
  'inactive',
  'org_id',
  'keys',
  'subscriptions',
  'fields',
  'nonce',
  'sso_key',
  'password_max_days',
  'password_updated',
  'PWHistory',
  'last_login_date',
];

/** Collects what our classes log, to prove no secret, token or nonce is written. */
class CaptureLogger implements LoggerService {
  readonly lines: string[] = [];
  private add(message: unknown, context?: unknown): void {
    this.lines.push(`${String(context)}: ${typeof message === 'string' ? message : JSON.stringify(message)}`);
  }
  log(message: unknown, context?: unknown) {
    this.add(message, context);
  }
  error(message: unknown, _trace?: unknown, context?: unknown) {
    this.add(message, context);
  }
  warn(message: unknown, context?: unknown) {
    this.add(message, context);
  }
  debug(message: unknown, context?: unknown) {
    this.add(message, context);
  }
  verbose(message: unknown, context?: unknown) {
    this.add(message, context);
  }
}

interface Harness {
  module: TestingModule;
  client: TykPortalClient;
  actions: IdentityActionsService;
  sync: OrganisationSyncService;
  cache: TokenCache;
  events: TykCallEvent[];
  close(): Promise<void>;
}

const logs = new CaptureLogger();
const secretsSeen = new Set<string>([API_SECRET, ADMIN_TOKEN, DASH_ADMIN_SECRET, GATEWAY_SECRET]);

function endpointEnv(kind: 'DASHBOARD' | 'GATEWAY', url: string): Record<string, string> {
  const u = new URL(url);
  return {
    [`TYK_IB_TYKAPISETTINGS_${kind}CONFIG_ENDPOINT`]: `${u.protocol}//${u.hostname}`,
    [`TYK_IB_TYKAPISETTINGS_${kind}CONFIG_PORT`]: u.port,
  };
}

async function harness(env: Record<string, string>): Promise<Harness> {
  const events: TykCallEvent[] = [];
  const module = await Test.createTestingModule({
    imports: [
      BrokerConfigModule.forRoot(testConfig(env)),
      TykPortalModule.forRoot({ onCall: { useValue: (e: TykCallEvent) => events.push(e) } }),
    ],
  }).compile();
  module.useLogger(logs);
  await module.init();
  return {
    module,
    client: module.get(TykPortalClient),
    actions: module.get(IdentityActionsService),
    sync: module.get(OrganisationSyncService),
    cache: module.get<TokenCache>(TOKEN_CACHE),
    events,
    close: () => module.close(),
  };
}

async function failure(promise: Promise<unknown>): Promise<DomainError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('expected the call to fail with a DomainError');
}

function identity(over: Partial<ActionIdentity> = {}): ActionIdentity {
  return {
    email: 'ada@example.com',
    rawEmail: 'ada@example.com',
    userId: 'sub-ada',
    displayName: 'Ada Lovelace',
    groupIds: [],
    provider: 'openid-connect',
    ...over,
  };
}

function profile(over: Partial<ActionProfile> = {}): ActionProfile {
  return {
    ID: 'dev-profile',
    ActionType: 'GenerateOrLoginDeveloperProfile',
    OrgID: '',
    ReturnURL: '',
    IdentityHandlerConfig: { DashboardCredential: API_SECRET },
    SSOOnlyForRegisteredUsers: false,
    MatchedPolicyID: '',
    ...over,
  };
}

/** A recording stand-in for the Tyk Dashboard and Gateway routes the emulator does not serve. */
interface FakeRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface FakeTyk {
  url: string;
  requests: FakeRequest[];
  handlers: Map<string, (req: FakeRequest) => { status: number; body: unknown }>;
  close(): Promise<void>;
}

async function startFakeTyk(): Promise<FakeTyk> {
  const requests: FakeRequest[] = [];
  const handlers = new Map<string, (req: FakeRequest) => { status: number; body: unknown }>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      const path = recorded.url.split('?')[0];
      const handler =
        handlers.get(`${recorded.method} ${path}`) ??
        [...handlers.entries()].find(
          ([k]) => k.endsWith('*') && `${recorded.method} ${path}`.startsWith(k.slice(0, -1)),
        )?.[1];
      const answer = handler ? handler(recorded) : { status: 404, body: { Status: 'error', Message: 'Not found' } };
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handlers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

afterAll(() => {
  // Nothing our classes logged may carry a secret, token or nonce (and they did log: retries, fallbacks).
  const ours = logs.lines.filter((l) =>
    /^(TykHttp|TykPortalClient|Tyk(Sso|Developer|Management)ApiClient|IdentityActionsService|OrganisationSyncService):/.test(
      l,
    ),
  );
  expect(ours.some((l) => l.startsWith('TykHttp:'))).toBe(true);
  const text = ours.join('\n');
  for (const secret of [
    ...secretsSeen,
    'idp-access-token',
    'client-secret-never-sent',
    'fallback-nonce',
    'stale-token',
    'old-key',
  ]) {
    expect(text).not.toContain(secret);
  }
});

describe('Tyk portal client (e2e, against the portal emulator)', () => {
  let emulator: PortalEmulator;
  let h: Harness;

  beforeAll(async () => {
    emulator = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
    h = await harness({ ...endpointEnv('DASHBOARD', emulator.url), TYK_PORTAL_ADMIN_TOKEN: ADMIN_TOKEN });
  });

  afterAll(async () => {
    await h?.close();
    await emulator?.stop();
  });

  beforeEach(() => {
    emulator.clearFaults();
    emulator.requests.splice(0);
    h.events.splice(0);
  });

  describe('SSO API (what TIB calls)', () => {
    it('should POST /api/sso with the raw Authorization, no Content-Type and TIB body order, and return Meta', async () => {
      const nonce = await h.client.createNonce(
        {
          SSOOnlyForRegisteredUsers: false,
          GroupsIDs: [],
          GroupID: '',
          DisplayName: 'Ada Lovelace',
          EmailAddress: 'ada@example.com',
          OrgID: '',
          ForSection: 'portal',
        },
        API_SECRET,
      );
      secretsSeen.add(nonce);
      expect(emulator.state.nonces.has(nonce)).toBe(true);
      expect(emulator.requests).toHaveLength(1);
      const [req] = emulator.requests;
      expect(req.method).toBe('POST');
      expect(req.path).toBe('/api/sso');
      expect(req.headers.authorization).toBe(API_SECRET);
      expect(req.headers['content-type']).toBeUndefined();
      expect(req.headers['admin-auth']).toBeUndefined();
      expect(Object.keys(req.body as object)).toEqual(SSO_FIELDS);
      expect(req.body).toEqual({
        ForSection: 'portal',
        OrgID: '',
        EmailAddress: 'ada@example.com',
        DisplayName: 'Ada Lovelace',
        GroupID: '',
        GroupsIDs: [],
        SSOOnlyForRegisteredUsers: false,
      });
      expect(h.events).toEqual([
        expect.objectContaining({ target: 'dashboard', endpoint: '/api/sso', method: 'POST', status: 200, attempt: 1 }),
      ]);
      expect(h.events[0].ms).toBeGreaterThan(0);
    });

    it('should fail with portal_auth_failed on a bad secret and not try /admin/sso without an AdminSecret', async () => {
      const error = await failure(
        h.client.createNonce(
          {
            ForSection: 'portal',
            OrgID: '',
            EmailAddress: 'a@b.io',
            DisplayName: 'a',
            GroupID: '',
            GroupsIDs: [],
            SSOOnlyForRegisteredUsers: false,
          },
          'wrong-secret',
        ),
      );
      expect(error.code).toBe('portal_auth_failed');
      expect(emulator.requests.map((r) => r.path)).toEqual(['/api/sso']);
    });

    it('should fall back to /admin/sso with admin-auth and the same body for a dashboard nonce when an AdminSecret is set', async () => {
      const withAdmin = await harness({
        ...endpointEnv('DASHBOARD', emulator.url),
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ADMINSECRET: DASH_ADMIN_SECRET,
      });
      try {
        const error = await failure(
          withAdmin.client.createNonce(
            {
              ForSection: 'dashboard',
              OrgID: '0',
              EmailAddress: 'a@b.io',
              DisplayName: 'a',
              GroupID: '',
              GroupsIDs: ['1'],
              SSOOnlyForRegisteredUsers: false,
            },
            'wrong-secret',
          ),
        );
        // The portal has no /admin/sso (404); the wrong secret (401) is what gets reported.
        expect(error.code).toBe('portal_auth_failed');
        expect(error.details).toMatchObject({ status: 401, fallbackStatus: 404 });
        expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/sso', 'POST /admin/sso']);
        const [first, fallback] = emulator.requests;
        expect(fallback.headers['admin-auth']).toBe(DASH_ADMIN_SECRET);
        expect(fallback.headers.authorization).toBeUndefined();
        expect(fallback.headers['content-type']).toBeUndefined();
        expect(fallback.body).toEqual(first.body);

        // A developer ("portal") nonce never tries /admin/sso: the EDP does not serve it (E9).
        emulator.requests.splice(0);
        const developer = await failure(
          withAdmin.client.createNonce(
            {
              ForSection: 'portal',
              OrgID: '',
              EmailAddress: 'a@b.io',
              DisplayName: 'a',
              GroupID: '',
              GroupsIDs: [],
              SSOOnlyForRegisteredUsers: false,
            },
            'wrong-secret',
          ),
        );
        expect(developer.code).toBe('portal_auth_failed');
        expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /api/sso']);
      } finally {
        await withAdmin.close();
      }
    });

    it('should report a refused login (403, an unknown team) as portal_rejected, not as bad credentials', async () => {
      const error = await failure(
        h.client.createNonce(
          {
            ForSection: 'portal',
            OrgID: '',
            EmailAddress: 'a@b.io',
            DisplayName: 'a',
            GroupID: '999',
            GroupsIDs: ['999'],
            SSOOnlyForRegisteredUsers: false,
          },
          API_SECRET,
        ),
      );
      expect(error.code).toBe('portal_rejected');
      expect(error.details).toMatchObject({ status: 403 });
    });

    it('should look a developer up by Go-escaped SSO key, null when unknown, auth failure on a bad secret', async () => {
      expect(await h.client.findDeveloperBySsoKey('nobody@openid-connect.com', API_SECRET)).toBeNull();
      expect(emulator.requests[0].path).toBe('/api/portal/developers/ssokey/nobody%40openid-connect.com');
      expect(emulator.requests[0].method).toBe('GET');
      expect(emulator.requests[0].headers.authorization).toBe(API_SECRET);
      expect(h.events[0]).toMatchObject({ endpoint: '/api/portal/developers/ssokey/:key', status: 404 });
      const error = await failure(h.client.findDeveloperBySsoKey('nobody@openid-connect.com', 'bad'));
      expect(error.code).toBe('portal_auth_failed');
    });

    it('should answer portal_unreachable, never "not found", when the SSO-key lookup gets a 408 or 429', async () => {
      for (const failStatus of [408, 429]) {
        emulator.setFaults({ failStatus, paths: ['/api/portal/developers/ssokey'] });
        const error = await failure(h.client.findDeveloperBySsoKey('busy@openid-connect.com', API_SECRET));
        expect(error.code).toBe('portal_unreachable');
      }
      emulator.clearFaults();
    });

    it('should refuse a developer whose sso_key is not the key asked for (portal_rejected)', async () => {
      const answers: Record<string, unknown> = {
        '/api/portal/developers/ssokey/ada%40openid-connect.com': {
          id: 'a1',
          email: 'mallory@x.io',
          sso_key: 'mallory@openid-connect.com',
        },
        '/api/portal/developers/ssokey/bea%40openid-connect.com': {
          id: 'b1',
          email: 'bea@x.io',
          sso_key: 'BEA@openid-connect.com',
        },
        '/api/portal/developers/ssokey/cy%40openid-connect.com': { id: 'c1', email: 'cy@x.io' },
      };
      const server = http.createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answers[req.url ?? ''] ?? {}));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const fake = await harness(
        endpointEnv('DASHBOARD', `http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      );
      try {
        const error = await failure(fake.client.findDeveloperBySsoKey('ada@openid-connect.com', API_SECRET));
        expect(error.code).toBe('portal_rejected');
        // The same key in another case is another subject's developer (OIDC `sub` is
        // case-sensitive; a portal that folds case must not hand sub "bea" developer "BEA").
        const folded = await failure(fake.client.findDeveloperBySsoKey('bea@openid-connect.com', API_SECRET));
        expect(folded.code).toBe('portal_rejected');
        // An answer without sso_key is the developer asked for (TIB's portal may leave it out).
        expect((await fake.client.findDeveloperBySsoKey('cy@openid-connect.com', API_SECRET))?.id).toBe('c1');
      } finally {
        await fake.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('should create then update a developer with TIB PortalDeveloper bodies', async () => {
      const nonce = await h.client.createNonce(
        {
          ForSection: 'portal',
          OrgID: 'org-x',
          EmailAddress: 'grace@example.com',
          DisplayName: 'Grace Hopper',
          GroupID: '',
          GroupsIDs: [],
          SSOOnlyForRegisteredUsers: false,
        },
        API_SECRET,
      );
      secretsSeen.add(nonce);
      emulator.requests.splice(0);
      const created = new Date('2026-01-02T03:04:05.000Z');
      await h.client.createDeveloper(
        {
          email: 'grace@example.com',
          orgId: 'org-x',
          nonce,
          ssoKey: 'sub-grace@openid-connect.com',
          dateCreated: created,
        },
        API_SECRET,
      );
      const [post] = emulator.requests;
      expect(post.method).toBe('POST');
      expect(post.path).toBe('/api/portal/developers');
      expect(post.headers.authorization).toBe(API_SECRET);
      expect(post.headers['content-type']).toBeUndefined();
      expect(Object.keys(post.body as object)).toEqual(DEVELOPER_FIELDS);
      expect(post.body).toEqual({
        id: '',
        email: 'grace@example.com',
        date_created: '2026-01-02T03:04:05.000Z',
        inactive: false,
        org_id: 'org-x',
        keys: {},
        subscriptions: {},
        fields: {},
        nonce,
        sso_key: 'sub-grace@openid-connect.com',
        password_max_days: 0,
        password_updated: '0001-01-01T00:00:00Z',
        last_login_date: '0001-01-01T00:00:00Z',
        PWHistory: null,
      });

      const found = await h.client.findDeveloperBySsoKey('sub-grace@openid-connect.com', API_SECRET);
      expect(found).not.toBeNull();
      expect(found!.email).toBe('grace@example.com');
      const user = emulator.state.findUserByEmail('grace@example.com');
      // Opaque 24-hex developer ids (E5), not the management API's integer user id.
      expect(found!.id).toMatch(/^[0-9a-f]{24}$/);
      expect(found!.id).toBe(emulator.state.developers.get(user!.ID)!.id);

      const nonce2 = await h.client.createNonce(
        {
          ForSection: 'portal',
          OrgID: 'org-x',
          EmailAddress: 'grace@example.com',
          DisplayName: 'Grace Hopper',
          GroupID: '',
          GroupsIDs: [],
          SSOOnlyForRegisteredUsers: false,
        },
        API_SECRET,
      );
      secretsSeen.add(nonce2);
      emulator.requests.splice(0);
      await h.client.updateDeveloper({ ...found!, nonce: nonce2 }, API_SECRET);
      const [put] = emulator.requests;
      expect(put.method).toBe('PUT');
      const developerId = emulator.state.developers.get(user!.ID)!.id;
      expect(put.path).toBe(`/api/portal/developers/${developerId}`);
      expect(put.headers['content-type']).toBeUndefined();
      expect(Object.keys(put.body as object)).toEqual(DEVELOPER_FIELDS);
      expect(put.body).toMatchObject({ id: developerId, nonce: nonce2, sso_key: 'sub-grace@openid-connect.com' });
    });
  });

  describe('management API (/portal-api)', () => {
    it('should walk organisations over several pages with the raw admin token, until an empty page', async () => {
      for (let i = 1; i <= 7; i++) await h.client.createOrganisation(`Paged Org ${i}`);
      const total = emulator.state.listOrgs().length;
      const perPage = 3;
      emulator.requests.splice(0);
      const orgs = await h.client.listOrganisations(perPage);
      expect(orgs.map((o) => o.ID)).toEqual(emulator.state.listOrgs().map((o) => String(o.ID)));
      expect(new Set(orgs.map((o) => o.ID)).size).toBe(total);
      // ceil(total / 3) pages, plus the empty page that ends the walk (a short page does not, E2).
      const expectedPages = Math.ceil(total / perPage) + 1;
      expect(emulator.requests).toHaveLength(expectedPages);
      for (const r of emulator.requests) {
        expect(r.method).toBe('GET');
        expect(r.path).toBe('/portal-api/organisations');
        expect(r.headers.authorization).toBe(ADMIN_TOKEN);
      }
    });

    it('should stop on an empty page when the list is an exact multiple of per_page', async () => {
      let total = emulator.state.listOrgs().length;
      while (total % 4 !== 0) {
        await h.client.createOrganisation(`Filler ${total}`);
        total++;
      }
      emulator.requests.splice(0);
      const orgs = await h.client.listOrganisations(4);
      expect(orgs).toHaveLength(total);
      expect(emulator.requests).toHaveLength(total / 4 + 1);
    });

    it('should create organisations and teams, list teams with the default one, and show an organisation', async () => {
      const org = await h.client.createOrganisation('Teamed Org');
      emulator.requests.splice(0);
      const team = await h.client.createTeam(org.ID, 'Builders');
      expect(emulator.requests[0]).toMatchObject({
        method: 'POST',
        path: `/portal-api/organisations/${org.ID}/teams`,
        body: { Name: 'Builders' },
      });
      expect(emulator.requests[0].headers['content-type']).toBe('application/json');
      const teams = await h.client.listTeams(org.ID, 1);
      expect(teams.map((t) => t.Name)).toEqual(['Teamed Org All users', 'Builders']);
      expect(teams.find((t) => t.Default)?.Name).toBe('Teamed Org All users');
      const detail = await h.client.getOrganisation(org.ID);
      expect(detail?.Teams.map((t) => t.ID)).toEqual(teams.map((t) => t.ID));
      expect(team.ID).toBe(teams[1].ID);
      expect(await h.client.getOrganisation('99999')).toBeNull();
    });

    it('should list, find, get and update users', async () => {
      const org = await h.client.createOrganisation('Users Org');
      for (const name of ['u1', 'u2', 'u3', 'u4', 'u5']) {
        emulator.state.createUser({
          Email: `${name}@users.example`,
          Role: 'consumer-team-member',
          OrganisationID: Number(org.ID),
          Active: true,
        });
      }
      const users = await h.client.listUsers(2);
      expect(users.map((u) => u.Email)).toEqual(emulator.state.listUsers().map((u) => u.Email));
      emulator.requests.splice(0);
      const id = await h.client.findUserIdByEmail('U4@users.example', 2);
      expect(id).toBe(String(emulator.state.findUserByEmail('u4@users.example')!.ID));
      expect(await h.client.findUserIdByEmail('nobody@users.example', 2)).toBeNull();

      const user = await h.client.getUser(id!);
      expect(user).toMatchObject({ Email: 'u4@users.example', OrganisationID: org.ID, Role: 'consumer-team-member' });
      expect(await h.client.getUser('424242')).toBeNull();

      const builders = await h.client.createTeam(org.ID, 'Second team');
      emulator.requests.splice(0);
      const updated = await h.client.updateUser(id!, { ...user!, Teams: [builders.ID] });
      const put = emulator.requests.find((r) => r.method === 'PUT')!;
      expect(put.path).toBe(`/portal-api/users/${id}`);
      // Teams as strings (E1); management API ids as the integers the spec types.
      expect(put.body).toMatchObject({ OrganisationID: Number(org.ID), Teams: [builders.ID] });
      expect(updated.Teams).toEqual(['Second team']);
      expect(emulator.state.getUser(Number(id)).Teams).toEqual([Number(builders.ID)]);
    });
  });

  describe('failures mapped to codes', () => {
    it('should answer portal_unreachable when the portal is down, after retrying a safe call', async () => {
      const gone = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
      await gone.stop();
      const down = await harness({
        ...endpointEnv('DASHBOARD', gone.url),
        TYK_PORTAL_ADMIN_TOKEN: ADMIN_TOKEN,
        TYK_PORTAL_RETRIES: '2',
      });
      try {
        const error = await failure(down.client.listUsers());
        expect(error.code).toBe('portal_unreachable');
        expect(down.events.map((e) => [e.status, e.attempt])).toEqual([
          ['error', 1],
          ['error', 2],
          ['error', 3],
        ]);
        const sso = await failure(
          down.client.createNonce(
            {
              ForSection: 'portal',
              OrgID: '',
              EmailAddress: 'a@b.io',
              DisplayName: 'a',
              GroupID: '',
              GroupsIDs: [],
              SSOOnlyForRegisteredUsers: false,
            },
            API_SECRET,
          ),
        );
        expect(sso.code).toBe('portal_unreachable');
        // POST /api/sso is never repeated.
        expect(down.events.filter((e) => e.endpoint === '/api/sso')).toHaveLength(1);
      } finally {
        await down.close();
      }
    });

    it('should answer portal_timeout when the portal is slower than the timeout, without retrying', async () => {
      const slow = await harness({
        ...endpointEnv('DASHBOARD', emulator.url),
        TYK_PORTAL_ADMIN_TOKEN: ADMIN_TOKEN,
        TYK_PORTAL_TIMEOUT_MS: '300',
      });
      try {
        emulator.setFaults({ latencyMs: 1500, paths: ['/portal-api/users'] });
        const started = Date.now();
        const error = await failure(slow.client.getUser('1'));
        expect(error.code).toBe('portal_timeout');
        expect(Date.now() - started).toBeLessThan(1200);
        expect(slow.events).toEqual([expect.objectContaining({ status: 'error', endpoint: '/portal-api/users/:id' })]);
      } finally {
        emulator.clearFaults();
        await slow.close();
      }
    });

    it('should hold each attempt to the timeout in total: a dripped body or a stream of 102s cannot stretch it', async () => {
      const timers = new Set<NodeJS.Timeout>();
      const server = http.createServer((req, res) => {
        let sent = 0;
        if (req.url?.startsWith('/portal-api/users/1')) {
          // Headers at once, then one byte every 100 ms: never idle for the agent's 400 ms.
          res.writeHead(200, { 'content-type': 'application/json' });
          const drip = setInterval(() => {
            if (++sent > 40) {
              clearInterval(drip);
              res.end('}');
              return;
            }
            res.write(sent === 1 ? '{' : ' ');
          }, 100);
          timers.add(drip);
        } else {
          // 102 Processing every 150 ms restarts the agent's headers timer.
          const processing = setInterval(() => {
            if (++sent > 25) {
              clearInterval(processing);
              res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
              return;
            }
            res.writeProcessing();
          }, 150);
          timers.add(processing);
        }
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const slow = await harness({
        ...endpointEnv('DASHBOARD', url),
        TYK_PORTAL_ADMIN_TOKEN: ADMIN_TOKEN,
        TYK_PORTAL_TIMEOUT_MS: '400',
        TYK_PORTAL_RETRIES: '0',
      });
      try {
        for (const call of [() => slow.client.getUser('1'), () => slow.client.listUsersPage(1)]) {
          const started = Date.now();
          const error = await failure(call());
          expect(error.code).toBe('portal_timeout');
          expect(Date.now() - started).toBeLessThan(1200);
        }
      } finally {
        for (const t of timers) clearInterval(t);
        await slow.close();
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });

    it('should retry a 500 on a safe call, then answer portal_unreachable', async () => {
      emulator.setFaults({ failStatus: 500, paths: ['/api/portal/developers/ssokey'] });
      const error = await failure(h.client.findDeveloperBySsoKey('x@openid-connect.com', API_SECRET));
      // A 5xx on the SSO-key lookup is never "not found" (E3): the caller must not create a developer.
      expect(error.code).toBe('portal_unreachable');
      expect(emulator.requests).toHaveLength(3);
      expect(h.events.map((e) => e.status)).toEqual([500, 500, 500]);
    });

    it('should not retry a 500 on POST /api/sso', async () => {
      emulator.setFaults({ failStatus: 500, paths: ['/api/sso'] });
      const error = await failure(
        h.client.createNonce(
          {
            ForSection: 'portal',
            OrgID: '',
            EmailAddress: 'a@b.io',
            DisplayName: 'a',
            GroupID: '',
            GroupsIDs: [],
            SSOOnlyForRegisteredUsers: false,
          },
          API_SECRET,
        ),
      );
      expect(error.code).toBe('portal_rejected');
      expect(emulator.requests).toHaveLength(1);
    });

    it('should recover when a retried call succeeds', async () => {
      emulator.setFaults({ failStatus: 503, paths: ['/portal-api/organisations'] });
      // Clear the fault as soon as the first attempt has been answered with it.
      const watcher = setInterval(() => {
        if (emulator.requests.length > 0) emulator.clearFaults();
      }, 5);
      const orgs = await h.client.listOrganisations().finally(() => clearInterval(watcher));
      expect(orgs.length).toBeGreaterThan(0);
      expect(h.events[0].status).toBe(503);
      expect(h.events.at(-1)!.status).toBe(200);
    });

    it('should answer portal_auth_failed for a bad admin token', async () => {
      const bad = await harness({ ...endpointEnv('DASHBOARD', emulator.url), TYK_PORTAL_ADMIN_TOKEN: 'not-the-token' });
      try {
        expect((await failure(bad.client.listOrganisations())).code).toBe('portal_auth_failed');
      } finally {
        await bad.close();
      }
    });

    it('should answer portal_not_configured with no Endpoint or no admin token', async () => {
      const none = await harness({});
      try {
        const error = await failure(
          none.client.createNonce(
            {
              ForSection: 'portal',
              OrgID: '',
              EmailAddress: 'a@b.io',
              DisplayName: 'a',
              GroupID: '',
              GroupsIDs: [],
              SSOOnlyForRegisteredUsers: false,
            },
            API_SECRET,
          ),
        );
        expect(error.code).toBe('portal_not_configured');
        expect((await failure(none.client.listUsers())).code).toBe('portal_not_configured');
        expect(none.events).toHaveLength(0);
      } finally {
        await none.close();
      }
    });
  });

  describe('identity actions against the portal', () => {
    it('should create a new developer and redirect 302 to ReturnURL?nonce= that signs in at the portal', async () => {
      const org = await h.client.createOrganisation('Action Org');
      const team = (await h.client.listTeams(org.ID)).find((t) => t.Default)!;
      emulator.requests.splice(0);
      const input: IdentityActionInput = {
        identity: identity({
          userId: 'sub-new',
          email: 'new.dev@example.com',
          rawEmail: 'new.dev@example.com',
          displayName: 'New Dev',
        }),
        profile: profile({ ReturnURL: `${emulator.url}/sso` }),
        portalTeamId: team.ID,
      };
      const result = await h.actions.run('GenerateOrLoginDeveloperProfile', input);
      expect(result.kind).toBe('redirect');
      if (result.kind !== 'redirect') return;
      expect(result.status).toBe(302);
      expect(result.portal).toEqual({
        ssoKey: 'sub-new@openid-connect.com',
        developerId: null,
        developerCreated: true,
        portalEmail: 'new.dev@example.com',
      });
      const location = new URL(result.location);
      const nonce = location.searchParams.get('nonce')!;
      secretsSeen.add(nonce);
      expect(`${location.origin}${location.pathname}`).toBe(`${emulator.url}/sso`);
      expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'POST /api/sso',
        'GET /api/portal/developers/ssokey/sub-new%40openid-connect.com',
        'POST /api/portal/developers',
      ]);
      expect(emulator.requests[0].body).toMatchObject({ ForSection: 'portal', GroupID: team.ID, GroupsIDs: [team.ID] });
      expect(emulator.requests[2].body).toMatchObject({
        email: 'new.dev@example.com',
        nonce,
        sso_key: 'sub-new@openid-connect.com',
      });

      const res = await fetch(result.location, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const user = emulator.state.findUserByEmail('new.dev@example.com')!;
      expect(user.OrganisationID).toBe(Number(org.ID));
      expect(user.Teams).toEqual([Number(team.ID)]);
    });

    it('should update the existing developer on the next login and append the nonce to a ReturnURL with a query', async () => {
      const input: IdentityActionInput = {
        identity: identity({ userId: 'sub-new', email: 'new.dev@example.com', rawEmail: 'new.dev@example.com' }),
        profile: profile({ ReturnURL: `${emulator.url}/sso?lang=en#welcome` }),
      };
      const result = await h.actions.run('GenerateOrLoginDeveloperProfile', input);
      if (result.kind !== 'redirect') throw new Error('expected a redirect');
      const user = emulator.state.findUserByEmail('new.dev@example.com')!;
      const developerId = emulator.state.developers.get(user.ID)!.id;
      expect(result.portal).toEqual({
        ssoKey: 'sub-new@openid-connect.com',
        developerId,
        developerCreated: false,
        portalEmail: 'new.dev@example.com',
      });
      expect(result.location).toMatch(new RegExp(`^${emulator.url}/sso\\?lang=en&nonce=[^&#]+#welcome$`));
      secretsSeen.add(new URL(result.location).searchParams.get('nonce')!);
      expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        'POST /api/sso',
        'GET /api/portal/developers/ssokey/sub-new%40openid-connect.com',
        `PUT /api/portal/developers/${developerId}`,
      ]);
    });

    it('should fail with portal_not_configured before any call when the profile has no ReturnURL', async () => {
      const error = await failure(
        h.actions.run('GenerateOrLoginDeveloperProfile', { identity: identity(), profile: profile() }),
      );
      expect(error.code).toBe('portal_not_configured');
      expect(error.details).toMatchObject({ field: 'ReturnURL' });
      expect(emulator.requests).toHaveLength(0);
    });

    it('should end with portal_auth_failed when the developer lookup is refused', async () => {
      const error = await failure(
        h.actions.run('GenerateOrLoginDeveloperProfile', {
          identity: identity(),
          profile: profile({
            ReturnURL: `${emulator.url}/sso`,
            IdentityHandlerConfig: { DashboardCredential: 'wrong' },
          }),
        }),
      );
      expect(error.code).toBe('portal_auth_failed');
    });

    it('should run GenerateOrLoginUserProfile with ForSection dashboard and no developer calls', async () => {
      const result = await h.actions.run('GenerateOrLoginUserProfile', {
        identity: identity({ email: 'admin@example.com', displayName: 'Admin Person', groupIds: ['g1', 'g2'] }),
        profile: profile({ ActionType: 'GenerateOrLoginUserProfile', OrgID: '0', ReturnURL: `${emulator.url}/sso` }),
      });
      if (result.kind !== 'redirect') throw new Error('expected a redirect');
      expect(result.status).toBe(302);
      secretsSeen.add(new URL(result.location).searchParams.get('nonce')!);
      expect(emulator.requests.map((r) => r.path)).toEqual(['/api/sso']);
      expect(emulator.requests[0].body).toEqual({
        ForSection: 'dashboard',
        OrgID: '0',
        EmailAddress: 'admin@example.com',
        DisplayName: 'Admin Person',
        GroupID: 'g1',
        GroupsIDs: ['g1', 'g2'],
        SSOOnlyForRegisteredUsers: false,
      });
      const res = await fetch(result.location, { redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(emulator.state.findUserByEmail('admin@example.com')?.Role).toBe('provider-admin');
    });
  });

  describe('organisation sync', () => {
    const settings = { enabled: true, idClaim: 'organization_id', nameClaim: 'organization_name' };

    it('should create the portal organisation once, named from the claim, then reuse the link', async () => {
      const first = await h.sync.resolve({
        issuer: IDP_ISSUER,
        settings,
        organisationId: 'ce-acme',
        organisationName: 'Acme Ltd',
      });
      expect(first).not.toBeNull();
      expect(first).toMatchObject({ source: 'created', created: true });
      const org = emulator.state.getOrg(Number(first!.portalOrgId));
      expect(org.Name).toBe('Acme Ltd');
      expect(first!.portalTeamId).toBe(String(emulator.state.defaultTeamOf(org.ID).ID));

      emulator.requests.splice(0);
      const again = await h.sync.resolve({
        issuer: IDP_ISSUER,
        settings,
        organisationId: 'ce-acme',
        organisationName: 'Acme Ltd',
      });
      expect(again).toEqual({ ...first, source: 'link', created: false });
      expect(emulator.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
    });

    it('should return null when sync is disabled or the developer has no organisation', async () => {
      expect(
        await h.sync.resolve({ issuer: IDP_ISSUER, settings: { ...settings, enabled: false }, organisationId: 'ce-x' }),
      ).toBeNull();
      expect(await h.sync.resolve({ issuer: IDP_ISSUER, settings, organisationId: null })).toBeNull();
      expect(emulator.requests).toHaveLength(0);
    });

    it('should create one portal organisation for concurrent first logins of one new organisation', async () => {
      const before = emulator.state.listOrgs().length;
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          h.sync.resolve({ issuer: IDP_ISSUER, settings, organisationId: 'ce-storm', organisationName: 'Storm Inc' }),
        ),
      );
      expect(emulator.state.listOrgs().length).toBe(before + 1);
      expect(emulator.state.listOrgs().filter((o) => o.Name === 'Storm Inc')).toHaveLength(1);
      expect(results.filter((r) => r!.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r!.portalOrgId)).size).toBe(1);
    });

    it('should follow an explicit team mapping over a remembered link, taking the organisation from the team', async () => {
      const mappedOrg = await h.client.createOrganisation('Mapped Org');
      const mappedTeam = await h.client.createTeam(mappedOrg.ID, 'Mapped Team');
      const result = await h.sync.resolve({
        issuer: IDP_ISSUER,
        settings: { ...settings, teamMapping: { 'ce-acme': mappedTeam.ID } },
        organisationId: 'ce-acme',
        organisationName: 'Acme Ltd',
      });
      expect(result).toEqual({
        portalOrgId: mappedOrg.ID,
        portalTeamId: mappedTeam.ID,
        source: 'mapping',
        created: false,
      });
      const error = await failure(
        h.sync.resolve({
          issuer: IDP_ISSUER,
          settings: { ...settings, teamMapping: { 'ce-lost': '987654' } },
          organisationId: 'ce-lost',
        }),
      );
      expect(error.code).toBe('profile_invalid');
    });

    it('should move an existing developer whose organisation changed, once', async () => {
      const a = (await h.sync.resolve({
        issuer: IDP_ISSUER,
        settings,
        organisationId: 'ce-move-a',
        organisationName: 'Move A',
      }))!;
      const login = await h.actions.run('GenerateOrLoginDeveloperProfile', {
        identity: identity({
          userId: 'sub-mover',
          email: 'mover@example.com',
          rawEmail: 'mover@example.com',
          displayName: 'Mo Ver',
        }),
        profile: profile({ ReturnURL: `${emulator.url}/sso` }),
        portalTeamId: a.portalTeamId,
      });
      if (login.kind !== 'redirect') throw new Error('expected a redirect');
      secretsSeen.add(new URL(login.location).searchParams.get('nonce')!);
      const portalUserId = await h.sync.findPortalUserIdByEmail('mover@example.com');
      expect(portalUserId).not.toBeNull();
      expect(emulator.state.getUser(Number(portalUserId)).OrganisationID).toBe(Number(a.portalOrgId));

      const stay = await h.sync.moveUserIfNeeded(portalUserId!, a);
      expect(stay.moved).toBe(false);

      const b = (await h.sync.resolve({
        issuer: IDP_ISSUER,
        settings,
        organisationId: 'ce-move-b',
        organisationName: 'Move B',
      }))!;
      emulator.requests.splice(0);
      const move = await h.sync.moveUserIfNeeded(portalUserId!, b);
      expect(move.moved).toBe(true);
      expect(move.before.organisationId).toBe(a.portalOrgId);
      expect(move.after.organisationId).toBe(b.portalOrgId);
      const put = emulator.requests.find((r) => r.method === 'PUT')!;
      expect(put.path).toBe(`/portal-api/users/${portalUserId}`);
      expect(put.body).toMatchObject({
        OrganisationID: Number(b.portalOrgId),
        Teams: [b.portalTeamId],
        Email: 'mover@example.com',
      });
      const user = emulator.state.getUser(Number(portalUserId));
      expect(user.OrganisationID).toBe(Number(b.portalOrgId));
      expect(user.Teams).toEqual([Number(b.portalTeamId)]);

      expect((await h.sync.moveUserIfNeeded(portalUserId!, b)).moved).toBe(false);
      expect((await failure(h.sync.moveUserIfNeeded('777777', b))).code).toBe('not_found');
      expect(await h.sync.findPortalUserIdByEmail('nobody-at-all@example.com')).toBeNull();
    });

    it.each(['super-admin', 'provider-admin'])(
      'should never change the role, organisation or teams of a %s a developer login reached (portal_rejected, no PUT)',
      async (adminRole) => {
        const email = `${adminRole}-root@example.com`;
        const admin = emulator.state.createUser({ Email: email, Role: adminRole, Active: true });
        const target = (await h.sync.resolve({
          issuer: IDP_ISSUER,
          settings,
          organisationId: 'ce-admin-target',
          organisationName: 'Admin Target',
        }))!;
        // A portal that signs an admin in through a developer SSO links the admin account by email.
        emulator.setContract({ adminDeveloperSso: 'login' });
        try {
          const login = await h.actions.run('GenerateOrLoginDeveloperProfile', {
            identity: identity({ userId: `sub-${adminRole}`, email, rawEmail: email, displayName: 'Root' }),
            profile: profile({ ReturnURL: `${emulator.url}/sso` }),
            portalTeamId: target.portalTeamId,
          });
          if (login.kind !== 'redirect') throw new Error('expected a redirect');
          secretsSeen.add(new URL(login.location).searchParams.get('nonce')!);
        } finally {
          emulator.setContract({ adminDeveloperSso: 'refuse' });
        }
        const portalUserId = await h.sync.findPortalUserIdByEmail(email, { exhaustive: true, fresh: true });
        expect(portalUserId).toBe(String(admin.ID));

        emulator.requests.splice(0);
        for (const change of [
          { placement: target },
          { role: 'consumer-team-member' },
          { placement: target, role: 'consumer-admin' },
        ]) {
          const error = await failure(h.sync.reconcileUser(portalUserId!, change));
          expect(error.code).toBe('portal_rejected');
        }
        expect((await failure(h.sync.moveUserIfNeeded(portalUserId!, target))).code).toBe('portal_rejected');
        expect(emulator.requests.filter((r) => r.method !== 'GET')).toEqual([]);
        expect(emulator.state.getUser(admin.ID)).toMatchObject({ Role: adminRole, OrganisationID: 0, Teams: [] });
        // Nothing asked of it, nothing refused: a read-only call stays harmless.
        expect((await h.sync.reconcileUser(portalUserId!, {})).roleChanged).toBe(false);
      },
    );
  });
});

describe('Tyk token actions (e2e, against a recording Dashboard/Gateway fake)', () => {
  let fake: FakeTyk;
  let h: Harness;
  let keySeq = 0;
  let tokenSeq = 0;

  beforeAll(async () => {
    fake = await startFakeTyk();
    h = await harness({
      ...endpointEnv('DASHBOARD', fake.url),
      ...endpointEnv('GATEWAY', fake.url),
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ADMINSECRET: DASH_ADMIN_SECRET,
      TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_ADMINSECRET: GATEWAY_SECRET,
    });
  });

  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  beforeEach(() => {
    fake.requests.splice(0);
    fake.handlers.clear();
    fake.handlers.set('POST /api/keys', () => ({ status: 200, body: { key_id: `key-${++keySeq}` } }));
    fake.handlers.set('DELETE /api/apis/*', () => ({ status: 200, body: { Status: 'OK' } }));
    fake.handlers.set('POST /oauth-api/tyk/oauth/authorize-client/', () => {
      const n = ++tokenSeq;
      return {
        status: 200,
        body: {
          access_token: `tok-${n}`,
          expires_in: 3600,
          redirect_to: `http://app.example/cb#access_token=tok-${n}`,
          token_type: 'bearer',
        },
      };
    });
  });

  const tokenProfile = (over: Partial<ActionProfile> = {}) =>
    profile({
      ID: 'token-profile',
      ActionType: 'GenerateTemporaryAuthToken',
      OrgID: 'org-1',
      MatchedPolicyID: 'pol-1',
      ReturnURL: 'http://app.example/landing',
      IdentityHandlerConfig: { DashboardCredential: API_SECRET, TokenAuth: { BaseAPIID: 'api-1', Expires: 600 } },
      ...over,
    });
  const tokenIdentity = identity({ userId: 'custom-id', subject: 'sub-raw', accessToken: 'idp-access-token' });

  it('should POST /api/keys with TIB session body and headers, then 302 to ReturnURL#token=', async () => {
    const started = Math.floor(Date.now() / 1000);
    const result = await h.actions.run('GenerateTemporaryAuthToken', {
      identity: tokenIdentity,
      profile: tokenProfile({ ID: 'tp-1' }),
    });
    expect(result).toEqual({
      kind: 'redirect',
      status: 302,
      location: `http://app.example/landing#token=key-${keySeq}`,
    });
    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/api/keys');
    expect(req.headers.authorization).toBe(API_SECRET);
    expect(req.headers['content-type']).toBeUndefined();
    const body = JSON.parse(req.body);
    expect(body.expires).toBeGreaterThanOrEqual(started + 600);
    expect(body.expires).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
    const expected = goJsonStringify(
      buildTykSession({
        baseApiId: 'api-1',
        policyId: 'pol-1',
        orgId: 'org-1',
        expires: body.expires,
        userId: 'sub-raw',
        provider: 'openid-connect',
        accessToken: 'idp-access-token',
      }),
    );
    expect(req.body).toBe(expected);
    expect(await h.cache.get(tokenCacheKey('tp-1', 'sub-raw@openid-connect.com'))).toBe(`key-${keySeq}`);
  });

  it('should revoke the previous key on the next login (TIB never does) and remember the new one', async () => {
    const p = tokenProfile({ ID: 'tp-2' });
    await h.actions.run('GenerateTemporaryAuthToken', { identity: tokenIdentity, profile: p });
    const firstKey = `key-${keySeq}`;
    fake.requests.splice(0);
    await h.actions.run('GenerateTemporaryAuthToken', { identity: tokenIdentity, profile: p });
    expect(fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      `DELETE /api/apis/api-1/keys/${firstKey}`,
      'POST /api/keys',
    ]);
    expect(fake.requests[0].headers.authorization).toBe(API_SECRET);
    expect(await h.cache.get(tokenCacheKey('tp-2', 'sub-raw@openid-connect.com'))).toBe(`key-${keySeq}`);
  });

  it('should not revoke when DisableOneTokenPerAPI is set, and answer JSON without a ReturnURL', async () => {
    const p = tokenProfile({
      ID: 'tp-3',
      ReturnURL: '',
      IdentityHandlerConfig: {
        DashboardCredential: API_SECRET,
        DisableOneTokenPerAPI: true,
        TokenAuth: { BaseAPIID: 'api-1' },
      },
    });
    await h.actions.run('GenerateTemporaryAuthToken', { identity: tokenIdentity, profile: p });
    const result = await h.actions.run('GenerateTemporaryAuthToken', { identity: tokenIdentity, profile: p });
    expect(result).toEqual({ kind: 'json', status: 200, body: { key_id: `key-${keySeq}` } });
    expect(fake.requests.map((r) => r.method)).toEqual(['POST', 'POST']);
  });

  it('should stop with portal_auth_failed when revoking the previous key is refused', async () => {
    const p = tokenProfile({ ID: 'tp-4' });
    await h.cache.set(tokenCacheKey('tp-4', 'sub-raw@openid-connect.com'), 'old-key', undefined, {
      profileId: 'tp-4',
      developerId: null,
    });
    fake.handlers.set('DELETE /api/apis/*', () => ({
      status: 401,
      body: { Status: 'error', Message: 'Not authorised' },
    }));
    const error = await failure(h.actions.run('GenerateTemporaryAuthToken', { identity: tokenIdentity, profile: p }));
    expect(error.code).toBe('portal_auth_failed');
    expect(fake.requests.map((r) => r.method)).toEqual(['DELETE']);
  });

  it('should map a failed /api/keys to portal_rejected without retrying the POST', async () => {
    fake.handlers.set('POST /api/keys', () => ({ status: 500, body: { Status: 'error' } }));
    const error = await failure(
      h.actions.run('GenerateTemporaryAuthToken', { identity: tokenIdentity, profile: tokenProfile({ ID: 'tp-5' }) }),
    );
    expect(error.code).toBe('portal_rejected');
    expect(fake.requests).toHaveLength(1);
  });

  const oauthProfile = (noRedirect: boolean, id = 'op-1') =>
    profile({
      ID: id,
      ActionType: 'GenerateOAuthTokenForClient',
      OrgID: 'org-1',
      MatchedPolicyID: 'pol-1',
      IdentityHandlerConfig: {
        DashboardCredential: API_SECRET,
        OAuth: {
          APIListenPath: 'oauth-api',
          RedirectURI: 'http://app.example/cb',
          ResponseType: 'token',
          ClientId: 'client-1',
          Secret: 'client-secret-never-sent',
          BaseAPIID: 'oauth-base',
          NoRedirect: noRedirect,
        },
      },
    });

  it('should POST the Gateway authorize-client form with only key_rules encoded, and return JSON with NoRedirect', async () => {
    const result = await h.actions.run('GenerateOAuthTokenForClient', {
      identity: tokenIdentity,
      profile: oauthProfile(true),
    });
    expect(result).toEqual({
      kind: 'json',
      status: 200,
      body: {
        access_token: `tok-${tokenSeq}`,
        expires_in: 3600,
        redirect_to: `http://app.example/cb#access_token=tok-${tokenSeq}`,
        token_type: 'bearer',
      },
    });
    if (result.kind !== 'json') throw new Error('expected JSON');
    expect(Object.keys(result.body)).toEqual(['access_token', 'expires_in', 'redirect_to', 'token_type']);
    const [req] = fake.requests;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/oauth-api/tyk/oauth/authorize-client/');
    expect(req.headers['x-tyk-authorization']).toBe(GATEWAY_SECRET);
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.headers.authorization).toBeUndefined();
    const prefix = 'response_type=token&client_id=client-1&redirect_uri=http://app.example/cb&key_rules=';
    expect(req.body.startsWith(prefix)).toBe(true);
    expect(req.body).not.toContain('client-secret-never-sent');
    const keyRules = decodeURIComponent(req.body.slice(prefix.length).replace(/\+/g, ' '));
    expect(keyRules).toBe(
      goJsonStringify(
        buildTykSession({
          baseApiId: 'oauth-base',
          policyId: 'pol-1',
          orgId: 'org-1',
          expires: -1,
          oauthClientId: 'client-1',
          userId: 'sub-raw',
          provider: 'openid-connect',
          accessToken: 'idp-access-token',
        }),
      ),
    );
  });

  it('should redirect 302 to redirect_to and revoke the previous OAuth token through the Dashboard', async () => {
    await h.actions.run('GenerateOAuthTokenForClient', {
      identity: tokenIdentity,
      profile: oauthProfile(false, 'op-2'),
    });
    const previous = `tok-${tokenSeq}`;
    fake.requests.splice(0);
    const result = await h.actions.run('GenerateOAuthTokenForClient', {
      identity: tokenIdentity,
      profile: oauthProfile(false, 'op-2'),
    });
    expect(result).toEqual({
      kind: 'redirect',
      status: 302,
      location: `http://app.example/cb#access_token=tok-${tokenSeq}`,
    });
    expect(fake.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      `DELETE /api/apis/oauth-base/keys/${previous}`,
      'POST /oauth-api/tyk/oauth/authorize-client/',
    ]);
  });

  it('should only log a failed OAuth revocation and still issue the token', async () => {
    await h.cache.set(tokenCacheKey('op-3', 'sub-raw@openid-connect.com'), 'stale-token', undefined, {
      profileId: 'op-3',
      developerId: null,
    });
    fake.handlers.set('DELETE /api/apis/*', () => ({ status: 401, body: { Status: 'error' } }));
    const result = await h.actions.run('GenerateOAuthTokenForClient', {
      identity: tokenIdentity,
      profile: oauthProfile(true, 'op-3'),
    });
    expect(result.kind).toBe('json');
    expect(fake.requests.map((r) => r.method)).toEqual(['DELETE', 'POST']);
  });

  it('should use the /admin/sso nonce when /api/sso refuses and an AdminSecret is set', async () => {
    fake.handlers.set('POST /api/sso', () => ({
      status: 401,
      body: { Status: 'error', Message: 'Not authorised', Meta: null },
    }));
    fake.handlers.set('POST /admin/sso', () => ({
      status: 200,
      body: { Status: 'OK', Message: 'SSO Nonce created', Meta: 'fallback-nonce' },
    }));
    const result = await h.actions.run('GenerateOrLoginUserProfile', {
      identity: identity(),
      profile: profile({ ActionType: 'GenerateOrLoginUserProfile', OrgID: '0', ReturnURL: 'http://dash:3000/tap' }),
    });
    expect(result).toEqual({ kind: 'redirect', status: 302, location: 'http://dash:3000/tap?nonce=fallback-nonce' });
    expect(fake.requests.map((r) => r.url)).toEqual(['/api/sso', '/admin/sso']);
    expect(fake.requests[1].headers['admin-auth']).toBe(DASH_ADMIN_SECRET);
    expect(fake.requests[1].body).toBe(fake.requests[0].body);
    expect(fake.requests[0].body).toBe(
      '{"ForSection":"dashboard","OrgID":"0","EmailAddress":"ada@example.com","DisplayName":"Ada Lovelace","GroupID":"","GroupsIDs":[],"SSOOnlyForRegisteredUsers":false}',
    );
  });

  it('should reject a 200 /api/sso answer whose Meta is not a string', async () => {
    fake.handlers.set('POST /api/sso', () => ({ status: 200, body: { Status: 'OK', Meta: null } }));
    const error = await failure(
      h.client.createNonce(
        {
          ForSection: 'portal',
          OrgID: '',
          EmailAddress: 'a@b.io',
          DisplayName: 'a',
          GroupID: '',
          GroupsIDs: [],
          SSOOnlyForRegisteredUsers: false,
        },
        API_SECRET,
      ),
    );
    expect(error.code).toBe('portal_rejected');
    expect(fake.requests).toHaveLength(1);
  });
});
