import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import {
  ADMIN_SECRET,
  PORTAL_TOKEN,
  guideProfile,
  hop,
  putProfile,
  startStack,
  type Stack,
} from '@test/support/stack.js';

describe('two broker instances on one Postgres (scale-out, e2e)', () => {
  let stack: Stack;
  let other: TestBroker;

  beforeAll(async () => {
    const env = { BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '4' };
    stack = await startStack({ env });
    await putProfile(stack, guideProfile(stack, 'guide'));
    const portal = new URL(stack.portal.url);
    other = await startTestBroker(
      testConfig({
        DATABASE_URL: stack.db.url,
        TYK_IB_SECRET: ADMIN_SECRET,
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${portal.protocol}//${portal.hostname}`,
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: portal.port,
        TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
        ...env,
      }),
    );
  });

  afterAll(async () => {
    await other?.close();
    await stack?.stop();
  });

  it('should finish on one instance a login started on the other', async () => {
    const start = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
    const cookie = start.res.headers.getSetCookie()[0].split(';')[0];
    const callback = new URL(await loginWithDevIdp(start.location, 'alice'));
    // The load balancer sends the callback to the other instance.
    const onOther = new URL(callback.pathname + callback.search, other.url);
    const done = await hop(onOther.toString(), { headers: { cookie } });
    expect(done.status).toBe(302);
    expect(done.location).toContain('/sso?nonce=');
  });

  it('should use a profile changed through one instance on the other within a second', async () => {
    const changed = guideProfile(stack, 'guide', { ReturnURL: `${stack.portal.url}/sso?from=changed` });
    const res = await fetch(`${other.url}/api/profiles/guide`, {
      method: 'PUT',
      headers: { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' },
      body: JSON.stringify(changed),
    });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    const start = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
    const cookie = start.res.headers.getSetCookie()[0].split(';')[0];
    const callback = await loginWithDevIdp(start.location, 'bob');
    const done = await hop(callback, { headers: { cookie } });
    expect(done.location).toMatch(/\/sso\?from=changed&nonce=/);
  });

  it('should count rate limits per instance', async () => {
    // The first instance reaches its limit of 4 starts a minute from this client …
    let status = 0;
    let retryAfter: string | null = null;
    for (let i = 0; i < 6 && status !== 429; i++) {
      const res = await hop(`${stack.broker.url}/auth/guide/openid-connect`);
      status = res.status;
      retryAfter = res.res.headers.get('retry-after');
    }
    expect(status).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    // … while the other instance, with its own counters, still lets the client start.
    expect((await hop(`${other.url}/auth/guide/openid-connect`)).status).toBe(307);
  });
});
