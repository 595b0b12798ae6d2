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
  const SCIM_TOKEN = 'idp-scim-token-0123456789abcdefghijklmnopqr';

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

  const scim = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${stack.broker.url}/scim/v2${path}`, {
      method,
      headers: { Authorization: `Bearer ${SCIM_TOKEN}`, 'Content-Type': 'application/scim+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> | null };
  };

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
        BROKER_SCIM_TOKENS: `idp:${SCIM_TOKEN}`,
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

  /** The outbox row as stored: what an erasure leaves behind while the portal catches up. */
  const outboxRow = async (id: string) =>
    (
      await db.query<{
        state: string;
        action: string;
        subject: string | null;
        email: string | null;
        tokens: unknown;
        portal_user_id: string | null;
      }>(
        'SELECT state, action, subject, email, tokens, portal_user_id FROM deprovisioning_outbox WHERE developer_id = $1',
        [id],
      )
    ).rows[0];

  async function failedOnce(id: string) {
    for (;;) {
      const sync = await portalSync(id);
      if (sync?.state === 'failed') return sync;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('should keep neither the subject nor the email of an erased developer in the outbox, also while the portal is down', async () => {
    // Bob: blocked above (his row keeps his subject until its deactivation is done), linked to a portal user.
    const bob = await developerOf('bob');
    stack.portal.setFaults({ failStatus: 503, paths: ['/portal-api/users'] });
    expect((await api(`/api/developers/${bob.id}`, { method: 'DELETE' })).status).toBe(200);
    await failedOnce(bob.id);
    // The portal user id is all the deletion needs.
    expect(await outboxRow(bob.id)).toMatchObject({
      state: 'failed',
      action: 'delete',
      subject: null,
      email: null,
      tokens: null,
      portal_user_id: bob.portal_user_id,
    });
    stack.portal.clearFaults();
    await settled(bob.id, 'delete');
    expect(stack.portal.state.users.has(Number(bob.portal_user_id))).toBe(false);
    expect(await outboxRow(bob.id)).toMatchObject({ subject: null, email: null, tokens: null });
  });

  it('should find an unlinked portal user by email, then keep its id instead of the email', async () => {
    // Alice's portal link is lost (a login that failed after the portal made her account): only her email finds it.
    const alice = await developerOf('alice');
    await db.query('UPDATE developers SET portal_user_id = NULL WHERE id = $1', [alice.id]);
    await db.query('UPDATE deprovisioning_outbox SET portal_user_id = NULL WHERE developer_id = $1', [alice.id]);
    // The lookup works, the deletion fails: the email must already be gone.
    stack.portal.setFaults({ failStatus: 503, paths: ['/portal-api/users/'] });
    expect((await api(`/api/developers/${alice.id}`, { method: 'DELETE' })).status).toBe(200);
    await failedOnce(alice.id);
    expect(await outboxRow(alice.id)).toMatchObject({
      state: 'failed',
      subject: null,
      email: null,
      portal_user_id: alice.portal_user_id,
    });
    expect(stack.portal.state.users.has(Number(alice.portal_user_id))).toBe(true);
    stack.portal.clearFaults();
    await settled(alice.id, 'delete');
    expect(stack.portal.state.users.has(Number(alice.portal_user_id))).toBe(false);
    expect(await outboxRow(alice.id)).toMatchObject({ subject: null, email: null, tokens: null });
  });

  it('should still delete the portal user of an erased developer when a block and an unblock follow', async () => {
    expect((await login('erin')).location).toContain('/sso?nonce=');
    const erin = await developerOf('erin');
    stack.portal.setFaults({ failStatus: 503, paths: ['/portal-api/users'] });
    expect((await api(`/api/developers/${erin.id}`, { method: 'DELETE' })).status).toBe(200);
    await failedOnce(erin.id);
    // Neither may turn the pending deletion into a deactivation or, worse, a reactivation.
    for (const status of ['blocked', 'active']) {
      const res = await api(`/api/developers/${erin.id}`, { method: 'PATCH', body: JSON.stringify({ status }) });
      expect(res.status).toBe(200);
      expect(await outboxRow(erin.id)).toMatchObject({ action: 'delete' });
    }
    stack.portal.clearFaults();
    await settled(erin.id, 'delete');
    expect(stack.portal.state.users.has(Number(erin.portal_user_id))).toBe(false);
    expect(await events('portal.developer_deleted', erin.id)).toHaveLength(1);
    expect(await events('portal.developer_deactivated', erin.id)).toEqual([]);
    expect(await events('portal.developer_reactivated', erin.id)).toEqual([]);
    // Once done, a later block leaves the deletion as the last word too.
    await api(`/api/developers/${erin.id}`, { method: 'PATCH', body: '{"status":"blocked"}' });
    expect(await portalSync(erin.id)).toMatchObject({ action: 'delete', state: 'done' });
  });

  it('should remove the SCIM user of an erased developer: SCIM answers 404 and no row keeps their data', async () => {
    expect((await login('frank')).location).toContain('/sso?nonce=');
    const frank = await developerOf('frank');
    const created = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      externalId: 'frank',
      userName: 'frank@freelance.example',
      active: true,
      displayName: 'Frank Foster',
      emails: [{ primary: true, type: 'work', value: 'frank@freelance.example' }],
      name: { familyName: 'Foster', givenName: 'Frank' },
    });
    expect(created.status).toBe(201);
    const scimId = created.body!.id as string;
    // Linked at creation: externalId = the developer's subject.
    const linked = await db.query('SELECT developer_id::text AS developer_id FROM scim_users WHERE id = $1', [scimId]);
    expect(linked.rows).toEqual([{ developer_id: frank.id }]);

    expect((await api(`/api/developers/${frank.id}`, { method: 'DELETE' })).status).toBe(200);
    const left = await db.query('SELECT * FROM scim_users WHERE id = $1 OR developer_id = $2', [scimId, frank.id]);
    expect(left.rows).toEqual([]);
    expect((await scim('GET', `/Users/${scimId}`)).status).toBe(404);
    const listed = await scim('GET', `/Users?filter=${encodeURIComponent('externalId eq "frank"')}`);
    expect(listed.body).toMatchObject({ totalResults: 0 });
    expect(await events('scim.user_deleted', frank.id)).toEqual([
      { actor: 'admin:tib-secret', details: { developer_erased: true } },
    ]);
  });
});
