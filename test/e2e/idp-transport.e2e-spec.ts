import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { ADMIN_SECRET, guideProfile, hop, putProfile, startStack, type Stack } from '@test/support/stack.js';

/**
 * Transport towards the identity provider (issue 13, finding 11), through the real broker, the
 * dev IdP (oidc-provider) and Postgres: a profile naming a plain-http IdP on a host that is not
 * loopback is refused at save unless it opts in with ProviderConfig.AllowInsecureHttp, and a
 * callback stripped of the RFC 9207 `iss` parameter that the dev IdP promises is refused.
 */
describe('IdP transport (e2e)', () => {
  let stack: Stack;

  const api = (id: string, init: RequestInit = {}) =>
    fetch(`${stack.broker.url}/api/profiles/${id}`, {
      ...init,
      headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' },
    });

  /** The guide profile with this DiscoverURL and extra ProviderConfig fields. */
  function profileWith(id: string, discoverUrl: string, extra: Record<string, unknown> = {}) {
    const profile = guideProfile(stack, id);
    const config = profile.ProviderConfig as Record<string, unknown> & { UseProviders: Record<string, unknown>[] };
    config.UseProviders[0].DiscoverURL = discoverUrl;
    Object.assign(config, extra);
    return profile;
  }

  beforeAll(async () => {
    stack = await startStack();
    await putProfile(stack, guideProfile(stack, 'guide'));
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('should refuse a plain-http DiscoverURL on a host that is not loopback with 400 naming the field, and store nothing', async () => {
    const insecure = 'http://idp.example.com/acme/dev/.well-known/openid-configuration';
    const res = await api('plain', { method: 'POST', body: JSON.stringify(profileWith('plain', insecure)) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { Status: string; Error: string };
    expect(body.Status).toBe('error');
    expect(body.Error).toMatch(/ProviderConfig\.UseProviders\[0\]\.DiscoverURL: must be https/);
    expect(body.Error).toContain('ProviderConfig.AllowInsecureHttp');
    expect((await api('plain')).status).toBe(404);

    const notBool = profileWith('plain', insecure, { AllowInsecureHttp: 'true' });
    const refused = await api('plain', { method: 'POST', body: JSON.stringify(notBool) });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { Error: string }).Error).toMatch(/ProviderConfig\.AllowInsecureHttp: must be/);
  });

  it('should store a plain-http DiscoverURL when the profile sets AllowInsecureHttp, and an https or loopback one without', async () => {
    const optedIn = profileWith('optin', 'http://idp.example.com/acme/dev/.well-known/openid-configuration', {
      AllowInsecureHttp: true,
    });
    expect((await api('optin', { method: 'POST', body: JSON.stringify(optedIn) })).status).toBe(201);
    const stored = (await (await api('optin')).json()) as { Data: { ProviderConfig: Record<string, unknown> } };
    expect(stored.Data.ProviderConfig.AllowInsecureHttp).toBe(true);
    const secure = profileWith('tls', 'https://idp.example.com/acme/dev/.well-known/openid-configuration');
    expect((await api('tls', { method: 'POST', body: JSON.stringify(secure) })).status).toBe(201);
    // The stack's dev IdP is plain http on loopback: accepted without the flag.
    expect((await api('guide')).status).toBe(200);
  });

  it('should refuse a callback stripped of the iss parameter the dev IdP promises (RFC 9207), and finish the real one', async () => {
    const doc = (await (await fetch(`${stack.idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(doc.authorization_response_iss_parameter_supported).toBe(true);
    const start = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
    const cookie = start.res.headers.getSetCookie()[0].split(';')[0];
    const callback = new URL(await loginWithDevIdp(start.location, 'alice'));
    expect(callback.searchParams.get('iss')).toBe(stack.idp.issuer);
    const stripped = new URL(callback);
    stripped.searchParams.delete('iss');
    const refused = await hop(stripped.toString(), { headers: { cookie } });
    expect(refused.location).toBe(`${stack.portal.url}/?fail=true&error=idp_error`);
    // Refused before the state was consumed: the genuine callback still signs in.
    const genuine = await hop(callback.toString(), { headers: { cookie } });
    expect(genuine.location).toContain('/sso?nonce=');
  });
});
