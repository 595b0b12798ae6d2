import pg from 'pg';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { startTestBroker, type TestBroker } from '@test/support/broker.js';
import { ADMIN_SECRET, guideProfile, hop, putProfile, startStack, type Stack } from '@test/support/stack.js';

/**
 * Block, unblock and erase reach the portal (issue 16, items 2 and 3): the login is refused at
 * once, the portal user follows through the outbox (Active false/true, deleted), every step is
 * audited, and a portal outage delays the update without losing it, also across a restart.
 */
describe('deprovisioning through the outbox (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;
  /** The instance started after the restart (stack.stop closes only the first one). */
  let restarted: TestBroker | undefined;
  const headers = { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' };

  async function login(account: string) {
    const start = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
    const cookie = start.res.headers
      .getSetCookie()
      .find((c) => c.startsWith('sso_broker_login='))!
      .split(';')[0];
    const callback = await loginWithDevIdp(start.location, account);
    const done = await hop(callback, { headers: { cookie } });
    // The browser's next hop: the portal makes (or signs in) its user.
    if (done.location.includes('/sso?nonce=')) await hop(done.location);
    return done;
  }

  async function developerOf(subject: string) {
    const { rows } = await db.query<{ id: string; email: string }>(
      'SELECT id::text, email FROM developers WHERE subject = $1',
      [subject],
    );
    const user = [...stack.portal.state.users.values()].find((u) => u.Email === rows[0].email)!;
    return { id: rows[0].id, portal_user_id: String(user.ID) };
  }

  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${stack.broker.url}${path}`, { ...init, headers: { ...headers, ...(init.headers ?? {}) } });

  async function portalSync(id: string) {
    const body = (await (await api(`/api/developers/${id}`)).json()) as {
      portal_sync: { state: string; action: string; last_error: string | null; attempts: number } | null;
    };
    return body.portal_sync;
  }

  /** Waits (bounded by jest's timeout, not asserted on time) until the outbox row is done. */
  async function settled(id: string, action: string) {
    for (;;) {
      const sync = await portalSync(id);
      if (sync?.action === action && sync.state === 'done') return sync;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const events = async (type: string, developerId: string) =>
    (
      await db.query<{ actor: string; details: Record<string, unknown> }>(
        'SELECT actor, details FROM audit_events WHERE type = $1 AND developer_id = $2 ORDER BY id',
        [type, developerId],
      )
    ).rows;

  beforeAll(async () => {
    stack = await startStack({
      env: {
        BROKER_DEPROVISION_POLL_MS: '50',
        BROKER_DEPROVISION_RETRY_BASE_MS: '50',
        BROKER_DEPROVISION_RETRY_MAX_MS: '200',
        TYK_PORTAL_RETRIES: '0',
      },
    });
    await putProfile(stack, guideProfile(stack));
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await restarted?.close();
    await stack?.stop();
  });

  it('should block at once, deactivate the portal user, audit it, and reverse it on unblock', async () => {
    expect((await login('alice')).location).toContain('/sso?nonce=');
    const alice = await developerOf('alice');
    const portalUser = Number(alice.portal_user_id);
    expect(stack.portal.state.getUser(portalUser).Active).toBe(true);
    expect(await portalSync(alice.id)).toBeNull();

    const blocked = await api(`/api/developers/${alice.id}`, { method: 'PATCH', body: '{"status":"blocked"}' });
    expect(blocked.status).toBe(200);
    expect((await login('alice')).location).toContain('error=developer_blocked');
    expect(await settled(alice.id, 'deactivate')).toMatchObject({ last_error: null });
    expect(stack.portal.state.getUser(portalUser).Active).toBe(false);
    expect(await events('portal.developer_deactivated', alice.id)).toEqual([
      expect.objectContaining({
        actor: 'admin:tib-secret',
        details: expect.objectContaining({ portal_user_found: true }),
      }),
    ]);

    await api(`/api/developers/${alice.id}`, { method: 'PATCH', body: '{"status":"active"}' });
    await settled(alice.id, 'reactivate');
    expect(stack.portal.state.getUser(portalUser).Active).toBe(true);
    expect(await events('portal.developer_reactivated', alice.id)).toHaveLength(1);
    expect((await login('alice')).location).toContain('/sso?nonce=');
  });

  it('should keep a deactivation through a portal outage and a broker restart, and land it later', async () => {
    expect((await login('bob')).location).toContain('/sso?nonce=');
    const bob = await developerOf('bob');
    stack.portal.setFaults({ failStatus: 503, paths: ['/portal-api/users'] });

    await api(`/api/developers/${bob.id}`, { method: 'PATCH', body: '{"status":"blocked"}' });
    expect((await login('bob')).location).toContain('error=developer_blocked');
    let sync = await portalSync(bob.id);
    while (sync?.state !== 'failed') {
      await new Promise((r) => setTimeout(r, 50));
      sync = await portalSync(bob.id);
    }
    expect(sync.last_error).toMatch(/^portal_/);
    expect(stack.portal.state.getUser(Number(bob.portal_user_id)).Active).toBe(true);

    // A restart loses nothing: the wish is in Postgres, and the new instance carries it out.
    const { config } = stack.broker;
    await stack.broker.close();
    stack.portal.clearFaults();
    restarted = await startTestBroker(config, stack.brokerPort);
    stack.broker = restarted;
    await settled(bob.id, 'deactivate');
    expect(stack.portal.state.getUser(Number(bob.portal_user_id)).Active).toBe(false);
    expect(await events('portal.developer_deactivated', bob.id)).toHaveLength(1);
  });

  it('should delete the portal user when the developer is erased, once', async () => {
    expect((await login('carol')).location).toContain('/sso?nonce=');
    const carol = await developerOf('carol');
    expect((await api(`/api/developers/${carol.id}`, { method: 'DELETE' })).status).toBe(200);
    await settled(carol.id, 'delete');
    expect(stack.portal.state.users.has(Number(carol.portal_user_id))).toBe(false);
    expect(await events('portal.developer_deleted', carol.id)).toEqual([
      expect.objectContaining({ details: expect.objectContaining({ result: 'deleted' }) }),
    ]);
    // The subject kept for revocation is gone once the work is done.
    const { rows } = await db.query('SELECT subject FROM deprovisioning_outbox WHERE developer_id = $1', [carol.id]);
    expect(rows).toEqual([{ subject: null }]);
  });
});
