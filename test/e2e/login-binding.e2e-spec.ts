import pg from 'pg';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';
import { guideProfile, hop, putProfile, startStack, type Stack } from '@test/support/stack.js';

/**
 * The cookie that binds a login to the browser that started it (issue 13, finding 3): a `__Host-`
 * cookie over HTTPS that a sibling subdomain or a plain-HTTP path cannot plant, malformed values
 * ignored instead of a 500, the binding checked in the statement that consumes the state, and a
 * lifetime that follows BROKER_LOGIN_STATE_TTL_SECONDS. Real broker, dev IdP, portal emulator and
 * Postgres; HTTPS is a TLS-terminating proxy on loopback (trusted by default) sending
 * `X-Forwarded-Proto: https`.
 */
describe('login binding cookie (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;
  let idp: FakeIdp;
  const HTTPS = { 'X-Forwarded-Proto': 'https' };
  const failed = (code: string) => `${stack.portal.url}/?fail=true&error=${code}`;

  beforeAll(async () => {
    stack = await startStack({ env: { BROKER_LOGIN_STATE_TTL_SECONDS: '1800' } });
    await putProfile(stack, guideProfile(stack, 'guide'));
    // TLS ends at an ingress the broker was not told about (no BROKER_PUBLIC_URL, no trusted
    // proxy); only the profile says the browser comes back over https. The fake IdP takes any
    // redirect URI, so the callback can be on a host the test then maps to the broker.
    idp = await startFakeIdp();
    const tls = guideProfile(stack, 'tlscb');
    const tlsConfig = tls.ProviderConfig as Record<string, unknown> & { UseProviders: Record<string, unknown>[] };
    await putProfile(stack, {
      ...tls,
      ProviderConfig: {
        ...tlsConfig,
        CallbackBaseURL: 'https://sso.example.com',
        UseProviders: [
          { ...tlsConfig.UseProviders[0], DiscoverURL: idp.discoverUrl, Key: idp.clientId, Secret: idp.clientSecret },
        ],
      },
    });
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await idp?.stop();
    await stack?.stop();
  });

  /** Starts a login with these request headers; returns the IdP URL and the binding cookie set. */
  async function start(headers: Record<string, string> = {}) {
    const res = await hop(`${stack.broker.url}/auth/guide/openid-connect`, { headers });
    expect(res.status).toBe(307);
    const cookies = res.res.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    const [pair] = cookies[0].split(';');
    const eq = pair.indexOf('=');
    return { location: res.location, setCookie: cookies[0], name: pair.slice(0, eq), value: pair.slice(eq + 1) };
  }

  const stateCount = async () =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM login_states')).rows[0].n);

  it('should set a __Host- cookie (Secure, Path=/, no Domain) over HTTPS, living as long as a login state', async () => {
    const { setCookie, name, value } = await start(HTTPS);
    expect(name).toBe('__Host-sso_broker_login');
    expect(value).toMatch(/^[A-Za-z0-9_-]{32,64}$/);
    expect(setCookie).toMatch(/; Secure/i);
    expect(setCookie).toMatch(/; Path=\/(;|$)/i);
    expect(setCookie).not.toMatch(/; Domain=/i);
    expect(setCookie).toMatch(/; HttpOnly/i);
    expect(setCookie).toMatch(/; SameSite=Lax/i);
    expect(setCookie).toMatch(/; Max-Age=1800(;|$)/i);
  });

  it('should use the plain name, not Secure, only over plain HTTP', async () => {
    const { setCookie, name } = await start();
    expect(name).toBe('sso_broker_login');
    expect(setCookie).not.toMatch(/; Secure/i);
    expect(setCookie).toMatch(/; Max-Age=1800(;|$)/i);
  });

  it('should not reuse a plain-named value planted by a sibling subdomain or over HTTP when reached over HTTPS', async () => {
    const planted = 'PLANTEDplantedPLANTEDplantedPLANTED0123';
    const { name, value } = await start({ ...HTTPS, cookie: `sso_broker_login=${planted}` });
    expect(name).toBe('__Host-sso_broker_login');
    expect(value).not.toBe(planted);
  });

  it("should not let a victim's browser holding a planted plain-named value finish the attacker's login over HTTPS", async () => {
    // The attacker starts a login in their own browser and signs in at the IdP as themselves.
    const attacker = await start(HTTPS);
    const callbackUrl = await loginWithDevIdp(attacker.location, 'bob');
    // The victim's browser carries the attacker's value under the plain name (a sibling
    // subdomain can set that one) and is sent to the attacker's callback URL.
    const victim = await hop(callbackUrl, {
      headers: { ...HTTPS, cookie: `sso_broker_login=${attacker.value}` },
    });
    expect(victim.location).toBe(failed('state_invalid'));
    // The attacker's own browser, with the __Host- cookie, still finishes.
    const own = await hop(callbackUrl, { headers: { ...HTTPS, cookie: `${attacker.name}=${attacker.value}` } });
    expect(own.location).toContain('/sso?nonce=');
  });

  it('should ignore and replace a malformed cookie value on the start route instead of answering 500', async () => {
    for (const headers of [
      { cookie: 'sso_broker_login=%E0' },
      { ...HTTPS, cookie: '__Host-sso_broker_login=%E0%A4%A' },
    ]) {
      const { value } = await start(headers);
      expect(value).toMatch(/^[A-Za-z0-9_-]{32,64}$/);
    }
  });

  it('should answer state_invalid, not 500, for a malformed cookie value on the callback, and keep the state', async () => {
    const first = await start();
    const callbackUrl = await loginWithDevIdp(first.location, 'bob');
    const malformed = await hop(callbackUrl, { headers: { cookie: 'sso_broker_login=%E0' } });
    expect(malformed.status).toBe(302);
    expect(malformed.location).toBe(failed('state_invalid'));
    const good = await hop(callbackUrl, { headers: { cookie: `${first.name}=${first.value}` } });
    expect(good.location).toContain('/sso?nonce=');
  });

  it("should not burn the victim's login when a leaked callback URL is opened by another browser first", async () => {
    const victim = await start(HTTPS);
    const callbackUrl = await loginWithDevIdp(victim.location, 'alice');
    const before = await stateCount();
    for (const cookie of ['', '__Host-sso_broker_login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      const attacker = await hop(callbackUrl, { headers: { ...HTTPS, ...(cookie ? { cookie } : {}) } });
      expect(attacker.location).toBe(failed('state_invalid'));
    }
    expect(await stateCount()).toBe(before);
    const own = await hop(callbackUrl, { headers: { ...HTTPS, cookie: `${victim.name}=${victim.value}` } });
    expect(own.location).toContain('/sso?nonce=');
    expect(await stateCount()).toBe(before - 1);
  });

  it("should use the __Host- cookie on both hops when the profile's CallbackBaseURL is https, whatever the request says", async () => {
    const res = await hop(`${stack.broker.url}/auth/tlscb/openid-connect`);
    expect(res.status).toBe(307);
    const [setCookie] = res.res.headers.getSetCookie();
    const [pair] = setCookie.split(';');
    const value = pair.slice(pair.indexOf('=') + 1);
    expect(pair.startsWith('__Host-sso_broker_login=')).toBe(true);
    expect(setCookie).toMatch(/; Secure/i);
    expect(setCookie).toMatch(/; Path=\/(;|$)/i);
    // The IdP sends the browser to https://sso.example.com/…/callback: the ingress's address here.
    const back = await hop(res.location);
    expect(back.location.startsWith('https://sso.example.com/auth/tlscb/openid-connect/callback?')).toBe(true);
    const callbackUrl = back.location.replace('https://sso.example.com', stack.broker.url);
    // A plain-named value (which a sibling subdomain or a plain-HTTP path can plant) is not read.
    const planted = await hop(callbackUrl, { headers: { cookie: `sso_broker_login=${value}` } });
    expect(planted.location).toBe(failed('state_invalid'));
    const own = await hop(callbackUrl, { headers: { cookie: `__Host-sso_broker_login=${value}` } });
    expect(own.location).toContain('/sso?nonce=');
  });
});
