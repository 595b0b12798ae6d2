import pg from 'pg';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import {
  ADMIN_SECRET,
  CLIENT_ID,
  CLIENT_SECRET,
  PORTAL_SECRET,
  guideProfile,
  hop,
  putProfile,
  startStack,
  type Stack,
} from '@test/support/stack.js';

/**
 * Logins that fail because of the stored profile, not the developer: a setting the login path
 * cannot use is a server-side configuration problem (503 `profile_misconfigured`, no setting named
 * to the browser), and a FailureRedirect that is not an absolute http(s) URL (TIB's LDAP/SAML
 * profiles often carry a relative one) ends on the error page instead of a 500 or a `javascript:`
 * Location. Real broker, dev IdP, portal emulator and Postgres.
 */
describe('logins failed by the profile itself (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;

  beforeAll(async () => {
    stack = await startStack({ profileIds: ['nodash', 'lowercase'] });
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.stop();
  });

  /** Stores a profile as an older broker (or a hand edit) may have, past today's save check. */
  async function storeUnchecked(profile: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify(profile);
    await db.query(
      `INSERT INTO profiles (id, action_type, provider_name, document, document_text) VALUES ($1, $2, $3, $4::jsonb, $4)`,
      [profile.ID, profile.ActionType, profile.ProviderName, text],
    );
  }

  const withoutFailureRedirect = (profile: Record<string, unknown>) => {
    delete (profile.ProviderConfig as Record<string, unknown>).FailureRedirect;
    return profile;
  };

  it('should answer a stored OrganisationSync the login path refuses as profile_misconfigured (503), naming no setting', async () => {
    const handler = { DashboardCredential: 'x', OrganisationSync: { Enabled: true, IdClaim: ' ' } };
    await storeUnchecked(withoutFailureRedirect(guideProfile(stack, 'badsync', { IdentityHandlerConfig: handler })));
    const page = await fetch(`${stack.broker.url}/auth/badsync/openid-connect`, { redirect: 'manual' });
    expect(page.status).toBe(503);
    const html = await page.text();
    expect(html).toContain('profile_misconfigured');
    expect(html).not.toMatch(/IdClaim|OrganisationSync|validation_failed/);

    await storeUnchecked(guideProfile(stack, 'badsync2', { IdentityHandlerConfig: handler }));
    const redirected = await hop(`${stack.broker.url}/auth/badsync2/openid-connect`);
    expect(redirected).toMatchObject({
      status: 302,
      location: `${stack.portal.url}/?fail=true&error=profile_misconfigured`,
    });
    const { rows } = await db.query<{ reason: string }>(
      `SELECT reason FROM audit_events WHERE type = 'login.failed' AND profile_id IN ('badsync', 'badsync2')`,
    );
    expect(rows).toEqual([{ reason: 'profile_misconfigured' }, { reason: 'profile_misconfigured' }]);
  });

  it('should sign in with a profile whose ProviderConfig and IdentityHandlerConfig keys are lower-cased, and keep them as sent', async () => {
    // TIB reads these keys case-insensitively (Go) and stores and serves them as sent.
    const providerConfig = {
      callbackBaseURL: `http://127.0.0.1:${stack.brokerPort}`,
      failureredirect: `${stack.portal.url}/?fail=true`,
      useProviders: [
        {
          name: 'openid-connect',
          key: CLIENT_ID,
          secret: CLIENT_SECRET,
          discoverURL: `${stack.idp.issuer}/.well-known/openid-configuration`,
          skipUserInfoRequest: true,
        },
      ],
    };
    const handler = { dashboardCredential: PORTAL_SECRET };
    await putProfile(
      stack,
      guideProfile(stack, 'lowercase', { ProviderConfig: providerConfig, IdentityHandlerConfig: handler }),
    );
    const served = await fetch(`${stack.broker.url}/api/profiles/lowercase`, {
      headers: { Authorization: ADMIN_SECRET },
    });
    const text = await served.text();
    expect(text).toContain(`"ProviderConfig":${JSON.stringify(providerConfig)}`);
    expect(text).toContain(`"IdentityHandlerConfig":${JSON.stringify(handler)}`);

    const start = await hop(`${stack.broker.url}/auth/lowercase/openid-connect`);
    expect(start.status).toBe(307);
    const cookie = start.res.headers.getSetCookie()[0].split(';')[0];
    const callback = await loginWithDevIdp(start.location, 'alice');
    expect(callback).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:${stack.brokerPort}/auth/lowercase/openid-connect/callback\\?`),
    );
    const done = await hop(callback, { headers: { cookie } });
    expect(done.status).toBe(302);
    expect(done.location).toMatch(new RegExp(`^${stack.portal.url}/sso\\?nonce=`));
  });

  it("should answer profile_misconfigured when the profile's action cannot run (no DashboardCredential), not a 400", async () => {
    await putProfile(stack, withoutFailureRedirect(guideProfile(stack, 'nodash', { IdentityHandlerConfig: {} })));
    const start = await hop(`${stack.broker.url}/auth/nodash/openid-connect`);
    expect(start.status).toBe(307);
    const cookie = start.res.headers.getSetCookie()[0].split(';')[0];
    const callback = await loginWithDevIdp(start.location, 'alice');
    const res = await fetch(callback, { headers: { cookie }, redirect: 'manual' });
    expect(res.status).toBe(503);
    const html = await res.text();
    expect(html).toContain('profile_misconfigured');
    expect(html).not.toContain('DashboardCredential');
  });

  it('should answer logout for a profile with nowhere to return to as 503 JSON naming no setting', async () => {
    await putProfile(stack, guideProfile(stack, 'noreturn', { ReturnURL: '' }));
    const res = await fetch(`${stack.broker.url}/auth/noreturn/openid-connect/logout`, { redirect: 'manual' });
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ error: { code: 'profile_misconfigured' } });
    expect(body).not.toMatch(/PostLogoutRedirectURL|ReturnURL/);
  });

  it.each([
    ['a relative FailureRedirect, as TIB profiles carry', '/login?failed=1'],
    ['a javascript: FailureRedirect', 'javascript:alert(1)//'],
  ])('should answer the 501 error page, not 500 or a redirect, for an LDAP profile with %s', async (_, failure) => {
    const ldap = {
      ID: 'ldap1',
      ActionType: 'GenerateOrLoginUserProfile',
      ProviderName: 'ADProvider',
      ProviderConfig: { FailureRedirect: failure, LDAPServer: 'ldap.example', LDAPPort: '389' },
    };
    await putProfile(stack, ldap);
    // The admin API keeps TIB's profile as sent: drop-in import must keep working.
    const stored = await fetch(`${stack.broker.url}/api/profiles/ldap1`, { headers: { Authorization: ADMIN_SECRET } });
    expect(JSON.stringify(await stored.json())).toContain(JSON.stringify(failure));
    const res = await fetch(`${stack.broker.url}/auth/ldap1/ldap`, { redirect: 'manual' });
    expect(res.status).toBe(501);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('provider_not_supported');
  });
});
