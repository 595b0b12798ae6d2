import pg from 'pg';
import { guideProfile, hop, putProfile, startStack, type Stack } from '@test/support/stack.js';
import { startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';

/**
 * RP-initiated logout (issue 16, item 5) against the dev IdP: the redirect carries client_id,
 * post_logout_redirect_uri and state to the discovery's end_session_endpoint, which accepts them
 * and sends the user back; an IdP without one sends the user straight to the post-logout URL.
 */
describe('RP-initiated logout (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;
  let bare: FakeIdp;

  beforeAll(async () => {
    stack = await startStack({ profileIds: ['guide', 'custom', 'bare'] });
    await putProfile(stack, guideProfile(stack));
    const custom = guideProfile(stack, 'custom');
    await putProfile(stack, {
      ...custom,
      ProviderConfig: { ...(custom.ProviderConfig as object), PostLogoutRedirectURL: `${stack.portal.url}/signed-out` },
    });
    // The fake IdP publishes no end_session_endpoint.
    bare = await startFakeIdp();
    const plain = guideProfile(stack, 'bare');
    const providers = (plain.ProviderConfig as { UseProviders: Record<string, unknown>[] }).UseProviders;
    await putProfile(stack, {
      ...plain,
      ProviderConfig: {
        ...(plain.ProviderConfig as object),
        UseProviders: [{ ...providers[0], DiscoverURL: bare.discoverUrl }],
      },
    });
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await bare?.stop();
    await stack?.stop();
  });

  it("should send the user to the dev IdP's end_session_endpoint with client_id, post_logout_redirect_uri and state", async () => {
    const discovery = (await (await fetch(`${stack.idp.issuer}/.well-known/openid-configuration`)).json()) as {
      end_session_endpoint: string;
    };
    expect(discovery.end_session_endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
    const res = await hop(`${stack.broker.url}/auth/guide/openid-connect/logout`);
    expect(res.status).toBe(302);
    const to = new URL(res.location);
    expect(`${to.origin}${to.pathname}`).toBe(discovery.end_session_endpoint);
    expect(to.searchParams.get('client_id')).toBe('portal-sso-broker');
    expect(to.searchParams.get('post_logout_redirect_uri')).toBe(`${new URL(stack.portal.url).origin}/`);
    const state = to.searchParams.get('state')!;
    expect(state).toMatch(/^[\w-]{22}$/);
    // The dev IdP accepts the request: with no IdP session it goes on to its confirmation form
    // at once (an invalid client_id or post_logout_redirect_uri would be an error page instead).
    const idpPage = await fetch(res.location);
    expect(idpPage.status).toBe(200);
    expect(await idpPage.text()).toContain('/logout/confirm');
    const refused = await fetch(res.location.replace('portal-sso-broker', 'someone-else'));
    expect(await refused.text()).not.toContain('/logout/confirm');

    const again = new URL((await hop(`${stack.broker.url}/auth/guide/openid-connect/logout`)).location);
    expect(again.searchParams.get('state')).not.toBe(state);
    const { rows } = await db.query<{ profile_id: string; details: Record<string, unknown> }>(
      `SELECT profile_id, details FROM audit_events WHERE type = 'logout.requested' ORDER BY id`,
    );
    expect(rows[0]).toMatchObject({ profile_id: 'guide', details: { via: 'end_session_endpoint' } });
  });

  it('should use ProviderConfig.PostLogoutRedirectURL when set', async () => {
    const to = new URL((await hop(`${stack.broker.url}/auth/custom/openid-connect/logout`)).location);
    expect(to.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.portal.url}/signed-out`);
  });

  it('should go straight to the post-logout URL when the IdP has no end_session_endpoint', async () => {
    const res = await hop(`${stack.broker.url}/auth/bare/openid-connect/logout`);
    expect(res).toMatchObject({ status: 302, location: `${new URL(stack.portal.url).origin}/` });
    const { rows } = await db.query<{ reason: string }>(
      `SELECT reason FROM audit_events WHERE type = 'logout.requested' AND profile_id = 'bare'`,
    );
    expect(rows).toEqual([{ reason: 'no_end_session_endpoint' }]);
  });

  it('should refuse an unknown profile', async () => {
    expect((await hop(`${stack.broker.url}/auth/nope/openid-connect/logout`)).status).toBe(404);
  });
});
