import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DevelopersService } from '@app/developers';
import { DeprovisioningWorker, leaseSecondsFor, ProvisioningModule, type TokenRevoker } from '@app/provisioning';
import { TykPortalModule } from '@app/tyk-portal';
import { Logger, type INestApplication } from '@nestjs/common';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';

/**
 * The outbox worker against real Postgres and the portal emulator, with two workers (two apps,
 * as two instances) and a gate in front of the portal that holds a chosen request until the test
 * lets it go: a slow portal, made deterministic. A lease running out is driven through the row's
 * `lease_until` (the clock), not by waiting.
 */
const API_SECRET = 'deprov-portal-secret-3321';
const ADMIN_TOKEN = 'deprov-portal-admin-token-7781';
const ISSUER = 'https://idp.example/tenant';

class NoRevoker implements TokenRevoker {
  revokeFor(): Promise<void> {
    return Promise.resolve();
  }
  revokeSealed(): Promise<void> {
    return Promise.resolve();
  }
}

interface Trap {
  method: string;
  path: string;
  arrived: () => void;
  released: Promise<void>;
}

/** An HTTP front for the emulator that holds the next request of a trap until it is released. */
class PortalGate {
  private readonly traps: Trap[] = [];
  private server!: Server;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const at = this.traps.findIndex((t) => t.method === req.method && t.path === req.url);
          if (at >= 0) {
            const [trap] = this.traps.splice(at, 1);
            trap.arrived();
            await trap.released;
          }
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(req.headers)) {
            if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
          }
          const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
          const answer = await fetch(this.target + req.url, { method: req.method, headers, body });
          const text = Buffer.from(await answer.arrayBuffer());
          res.writeHead(answer.status, {
            'content-type': answer.headers.get('content-type') ?? 'application/json',
            'content-length': String(text.length),
          });
          res.end(text);
        })().catch(() => res.destroy());
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Holds the next `method path` request; `arrived` resolves when it is held. */
  trap(method: string, path: string): { arrived: Promise<void>; release: () => void } {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const arrivedP = new Promise<void>((r) => (arrived = r));
    this.traps.push({ method, path, arrived, released });
    return { arrived: arrivedP, release };
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('deprovisioning worker (real Postgres, portal emulator)', () => {
  let db: TestDatabase;
  let portal: PortalEmulator;
  let gate: PortalGate;
  let appA: INestApplication;
  let appB: INestApplication;
  let workerA: DeprovisioningWorker;
  let workerB: DeprovisioningWorker;
  let developers: DevelopersService;
  let sql: pg.Client;
  let orgId: number;
  let seq = 0;

  async function workerApp(): Promise<INestApplication> {
    const url = new URL(gate.url);
    const app = await createLibApp(
      db,
      ProvisioningModule.forRoot({ imports: [TykPortalModule.forRoot()], tokenRevoker: NoRevoker }),
      {
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${url.protocol}//${url.hostname}`,
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: url.port,
        TYK_PORTAL_ADMIN_TOKEN: ADMIN_TOKEN,
        // Long enough that a held request never times out: the test decides when leases run out.
        TYK_PORTAL_TIMEOUT_MS: '30000',
        TYK_PORTAL_RETRIES: '0',
      },
    );
    await app.init();
    // No background passes: the test runs each worker's passes itself.
    await app.get(DeprovisioningWorker).onApplicationShutdown();
    return app;
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    db = await createTestDatabase('deprov');
    portal = await startPortalEmulator({ apiSecret: API_SECRET, adminToken: ADMIN_TOKEN });
    gate = new PortalGate(portal.url);
    await gate.start();
    appA = await workerApp();
    appB = await workerApp();
    workerA = appA.get(DeprovisioningWorker);
    workerB = appB.get(DeprovisioningWorker);
    developers = appA.get(DevelopersService);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    orgId = portal.state.createOrg('Partners').ID;
  });

  afterAll(async () => {
    await sql?.end();
    await appA?.close();
    await appB?.close();
    await gate?.stop();
    await portal?.stop();
    await db?.drop();
  });

  /** A developer whose portal account is a consumer's (or the given role's), linked by id. */
  async function developerWithPortalUser(role = 'consumer-team-member', link = true) {
    seq++;
    const email = `dev${seq}@example.com`;
    const user = portal.state.createUser({
      Email: email,
      Role: role,
      OrganisationID: role.startsWith('consumer') ? orgId : 0,
      Active: true,
    });
    const { developer } = await developers.recordLogin({
      issuer: ISSUER,
      subject: `sub-${seq}`,
      email,
      emailVerified: true,
      name: `Developer ${seq}`,
      organisationId: null,
      organisationName: null,
    });
    if (link) await developers.setPortalLink(developer.id, { portalUserId: String(user.ID) });
    return { id: developer.id, userId: user.ID, path: `/portal-api/users/${user.ID}` };
  }

  /** The clock moves past every lease: the slow worker's claim has run out. */
  const leasesRunOut = () =>
    sql.query(
      `UPDATE deprovisioning_outbox SET lease_until = now() - interval '1 second' WHERE lease_until IS NOT NULL`,
    );

  const row = async (developerId: string) =>
    (
      await sql.query<{
        state: string;
        action: string;
        version: number;
        last_error: string | null;
        held: boolean;
        retry_never: boolean;
      }>(
        `SELECT state, action, version, last_error, lease_until > now() AS held,
                next_attempt_at = 'infinity' AS retry_never
           FROM deprovisioning_outbox WHERE developer_id = $1`,
        [developerId],
      )
    ).rows[0];

  const events = async (type: string, developerId: string) =>
    (
      await sql.query<{ outcome: string; reason: string | null; details: Record<string, unknown> }>(
        'SELECT outcome, reason, details FROM audit_events WHERE type = $1 AND developer_id = $2 ORDER BY id',
        [type, developerId],
      )
    ).rows;

  it('should never apply a stale reactivation after a newer deactivation was done by another worker', async () => {
    const dev = await developerWithPortalUser();
    await developers.block(dev.id, 'admin:test');
    await developers.unblock(dev.id, 'admin:test');
    // The earlier deactivation landed; the pending wish is the reactivation.
    portal.state.updateUser(dev.userId, { Active: false });
    expect(await row(dev.id)).toMatchObject({ action: 'reactivate', state: 'pending' });

    // Worker A claims the reactivation; the portal is slow to answer its first call.
    const slow = gate.trap('GET', dev.path);
    const passA = workerA.runOnce();
    await slow.arrived;
    // The developer is blocked again, A's lease runs out, and worker B carries the new wish out.
    await developers.block(dev.id, 'admin:test');
    await leasesRunOut();
    expect(await workerB.runOnce()).toBe(1);
    expect(await row(dev.id)).toMatchObject({ action: 'deactivate', state: 'done' });
    expect(portal.state.getUser(dev.userId).Active).toBe(false);

    // A's portal call comes back: its wish is stale and its claim gone, so it must not act.
    slow.release();
    expect(await passA).toBe(0);
    expect(portal.state.getUser(dev.userId).Active).toBe(false);
    expect(await events('portal.developer_reactivated', dev.id)).toEqual([]);
    expect(await events('portal.developer_deactivated', dev.id)).toHaveLength(1);
    expect(await row(dev.id)).toMatchObject({ action: 'deactivate', state: 'done' });
  });

  it('should work each row once when a slow portal outlasts a lease, and leave the new holder its lease', async () => {
    const x = await developerWithPortalUser();
    const y = await developerWithPortalUser();
    await developers.block(x.id, 'admin:test');
    await developers.block(y.id, 'admin:test');

    // A takes x first and waits on the portal; its lease runs out meanwhile.
    const slowA = gate.trap('GET', x.path);
    const passA = workerA.runOnce();
    await slowA.arrived;
    await leasesRunOut();
    // B claims x (A's lease is over) and is slow too.
    const slowB = gate.trap('GET', x.path);
    const passB = workerB.runOnce();
    await slowB.arrived;

    // A comes back: x is B's now (A leaves it, and B's lease, alone) and A goes on with y.
    slowA.release();
    const doneByA = await passA;
    expect(await row(x.id)).toMatchObject({ state: 'pending', held: true });

    slowB.release();
    expect(doneByA + (await passB)).toBe(2);
    for (const dev of [x, y]) {
      expect(portal.state.getUser(dev.userId).Active).toBe(false);
      expect(await row(dev.id)).toMatchObject({ state: 'done' });
      expect(await events('portal.developer_deactivated', dev.id)).toHaveLength(1);
    }
  });

  it.each([
    ['blocked', (id: string) => developers.block(id, 'admin:test'), 'portal.developer_deactivated'],
    ['erased', (id: string) => developers.erase(id, 'admin:test'), 'portal.developer_deleted'],
  ] as const)(
    'should leave an admin portal account untouched when a developer linked to it is %s',
    async (_change, change, type) => {
      const dev = await developerWithPortalUser('provider-admin');
      await change(dev.id);
      expect(await workerA.runOnce()).toBe(0);
      const admin = portal.state.getUser(dev.userId);
      expect(admin).toMatchObject({ Role: 'provider-admin', Active: true, OrganisationID: 0 });
      expect(await row(dev.id)).toMatchObject({ state: 'failed', retry_never: true });
      expect((await row(dev.id)).last_error).toMatch(/^portal_user_not_developer: .*provider-admin/);
      expect(await events(type, dev.id)).toEqual([
        expect.objectContaining({
          outcome: 'failure',
          reason: 'portal_user_not_developer',
          details: expect.objectContaining({ portal_user_id: String(dev.userId), portal_role: 'provider-admin' }),
        }),
      ]);
      // Not retried: the refusal stands until a new wish.
      expect(await workerB.runOnce()).toBe(0);
      expect(await events(type, dev.id)).toHaveLength(1);
    },
  );

  it('should leave an admin account alone when the email lookup of an unlinked developer finds it', async () => {
    const dev = await developerWithPortalUser('provider-admin', false);
    await developers.erase(dev.id, 'admin:test');
    expect(await workerA.runOnce()).toBe(0);
    expect(portal.state.users.has(dev.userId)).toBe(true);
    expect(portal.state.getUser(dev.userId)).toMatchObject({ Role: 'provider-admin', Active: true });
    expect(await row(dev.id)).toMatchObject({ state: 'failed', retry_never: true });
    expect(await events('portal.developer_deleted', dev.id)).toEqual([
      expect.objectContaining({ outcome: 'failure', reason: 'portal_user_not_developer' }),
    ]);
  });

  const teamsPage = (org: number, page: number) => `/portal-api/organisations/${org}/teams?page=${page}&per_page=100`;

  it('should write back the user as read right before the write: a team move and promotion meanwhile stay', async () => {
    const dev = await developerWithPortalUser();
    const other = portal.state.createTeam(orgId, `Moved ${seq}`);
    await developers.block(dev.id, 'admin:test');
    // The worker has read the user (its role checked) and walks the team list: the user is moved
    // to another team and promoted to consumer-admin by someone else right then.
    const walk = gate.trap('GET', teamsPage(orgId, 1));
    const pass = workerA.runOnce();
    await walk.arrived;
    portal.state.updateUser(dev.userId, { Role: 'consumer-admin', Teams: [String(other.ID)] });
    walk.release();
    expect(await pass).toBe(1);
    expect(portal.state.getUser(dev.userId)).toMatchObject({
      Active: false,
      Role: 'consumer-admin',
      OrganisationID: orgId,
      Teams: [other.ID],
    });
  });

  it('should refuse, not deactivate, an account promoted to admin after the first read', async () => {
    const dev = await developerWithPortalUser();
    await developers.block(dev.id, 'admin:test');
    const walk = gate.trap('GET', teamsPage(orgId, 1));
    const pass = workerA.runOnce();
    await walk.arrived;
    portal.state.updateUser(dev.userId, { Role: 'provider-admin', OrganisationID: 0 });
    walk.release();
    expect(await pass).toBe(0);
    expect(portal.state.getUser(dev.userId)).toMatchObject({ Role: 'provider-admin', Active: true, OrganisationID: 0 });
    expect(await row(dev.id)).toMatchObject({ state: 'failed', retry_never: true });
    expect(await events('portal.developer_deactivated', dev.id)).toEqual([
      expect.objectContaining({ outcome: 'failure', reason: 'portal_user_not_developer' }),
    ]);
  });

  it('should check its lease between the pages of a long team list and write nothing once it lost the row', async () => {
    const big = portal.state.createOrg(`Big ${seq}`).ID;
    for (let i = 0; i < 45; i++) portal.state.createTeam(big, `Team ${i}`);
    const dev = await developerWithPortalUser();
    portal.state.updateUser(dev.userId, { OrganisationID: big, Teams: [String(portal.state.defaultTeamOf(big).ID)] });
    await developers.block(dev.id, 'admin:test');
    // A is in the middle of the team list (the emulator serves 20 a page: 3 pages and an empty one)
    // when its lease runs out, the developer is unblocked and B carries the reactivation out.
    const slow = gate.trap('GET', teamsPage(big, 2));
    const passA = workerA.runOnce();
    await slow.arrived;
    await leasesRunOut();
    await developers.unblock(dev.id, 'admin:test');
    expect(await workerB.runOnce()).toBe(1);
    portal.requests.splice(0);
    slow.release();
    // A's next check, before its next page, fails: it never writes its stale deactivation.
    expect(await passA).toBe(0);
    expect(portal.requests.filter((r) => r.method === 'PUT')).toEqual([]);
    expect(portal.state.getUser(dev.userId).Active).toBe(true);
    expect(await events('portal.developer_deactivated', dev.id)).toEqual([]);
    expect(await row(dev.id)).toMatchObject({ action: 'reactivate', state: 'done' });
  });

  it('should size the lease for the portal calls between two checks, every attempt and backoff included', () => {
    // Four calls of 3 attempts of 5 s with 2 backoffs of up to 2 s each, plus 30 s.
    expect(leaseSecondsFor({ timeoutMs: 5000, retries: 2 })).toBe(Math.ceil(((5000 * 3 + 2000 * 2) * 4) / 1000) + 30);
    expect(leaseSecondsFor({ timeoutMs: 30000, retries: 0 })).toBe(120 + 30);
  });

  it('should still deactivate and delete consumer accounts', async () => {
    const blocked = await developerWithPortalUser('consumer-admin');
    const erased = await developerWithPortalUser();
    await developers.block(blocked.id, 'admin:test');
    await developers.erase(erased.id, 'admin:test');
    expect(await workerA.runOnce()).toBe(2);
    expect(portal.state.getUser(blocked.userId).Active).toBe(false);
    expect(portal.state.users.has(erased.userId)).toBe(false);
    expect(await events('portal.developer_deleted', erased.id)).toEqual([
      expect.objectContaining({ outcome: 'success', details: expect.objectContaining({ result: 'deleted' }) }),
    ]);
  });
});
