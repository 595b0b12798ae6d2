import { jest } from '@jest/globals';
import { AuditService } from '@app/audit';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { guideProfile, putProfile, startStack, type Stack } from '@test/support/stack.js';

/**
 * What the broker tells people who are not its operators (issue 13, finding 9): error pages show a
 * code, a sentence and the request id, never a setting, an upstream URL or a socket error; and
 * /metrics names no internal URL, runs no database query per scrape, and can be closed with
 * BROKER_METRICS_TOKEN.
 */
const METRICS_TOKEN = 'metrics-token-3f9a1c7e5b';

describe('disclosure (e2e: real broker, Postgres, dev IdP, portal emulator)', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ profileIds: ['guide', 'nofail'], env: { BROKER_METRICS_TOKEN: METRICS_TOKEN } });
    await putProfile(stack, guideProfile(stack, 'guide'));
    const noFail = guideProfile(stack, 'nofail');
    delete (noFail.ProviderConfig as Record<string, unknown>).FailureRedirect;
    await putProfile(stack, noFail);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** Starts a login at the broker and signs in at the dev IdP: the callback URL and the binding cookie. */
  async function signInAtIdp(profileId: string, account: string) {
    const start = await fetch(`${stack.broker.url}/auth/${profileId}/openid-connect`, { redirect: 'manual' });
    await start.arrayBuffer();
    const cookie = (start.headers.getSetCookie()[0] ?? '').split(';')[0];
    const callback = new URL(await loginWithDevIdp(start.headers.get('location') ?? '', account));
    return { path: `${callback.pathname}${callback.search}`, cookie };
  }

  const scrape = (authorization?: string) =>
    fetch(`${stack.broker.url}/metrics`, authorization ? { headers: { Authorization: authorization } } : {});

  describe('/metrics', () => {
    it('should answer only Authorization: Bearer <BROKER_METRICS_TOKEN> when the token is set', async () => {
      for (const authorization of [undefined, METRICS_TOKEN, `Bearer ${METRICS_TOKEN}x`, 'Bearer ', 'Basic abc']) {
        const res = await scrape(authorization);
        const body = await res.text();
        expect([authorization, res.status]).toEqual([authorization, 401]);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(body).not.toContain('nodejs_');
      }
      const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('broker_db_pool_connections{state="total"}');
      expect(stack.broker.logs.text()).not.toContain(METRICS_TOKEN);
    });

    it('should name no internal URL: IdP calls are labelled by endpoint kind', async () => {
      const { path, cookie } = await signInAtIdp('guide', 'alice');
      const done = await fetch(`${stack.broker.url}${path}`, { redirect: 'manual', headers: { cookie } });
      await done.arrayBuffer();
      expect(done.status).toBe(302);
      const body = await (await scrape(`Bearer ${METRICS_TOKEN}`)).text();
      expect(body).toMatch(
        /broker_idp_request_duration_seconds_count\{method="POST",endpoint="token",status="200"\} 1/,
      );
      expect(body).toMatch(
        /broker_idp_request_duration_seconds_count\{method="GET",endpoint="discovery",status="200"\}/,
      );
      expect(body).toMatch(/broker_idp_request_duration_seconds_count\{method="GET",endpoint="jwks",status="200"\}/);
      expect(body).not.toMatch(/https?:\/\//);
      expect(body).not.toContain('127.0.0.1');
      expect(body).not.toContain(new URL(stack.idp.issuer).port);
    });

    it('should not query the database on every scrape (the sealing lag is refreshed at most every 15 s)', async () => {
      const audit = stack.broker.app.get(AuditService);
      const spy = jest.spyOn(audit, 'sealingLagSeconds');
      try {
        for (let i = 0; i < 10; i++) {
          const res = await scrape(`Bearer ${METRICS_TOKEN}`);
          expect(await res.text()).toMatch(/^broker_audit_sealing_lag_seconds \d/m);
        }
        expect(spy.mock.calls.length).toBeLessThanOrEqual(1);
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe('error pages', () => {
    it('should show the browser the code, a sentence and the request id, and put the detail (ECONNREFUSED, /api/sso) in the log only', async () => {
      const { path, cookie } = await signInAtIdp('nofail', 'bob');
      const portalPort = new URL(stack.portal.url).port;
      await stack.portal.stop();
      const res = await fetch(`${stack.broker.url}${path}`, { redirect: 'manual', headers: { cookie } });
      const html = await res.text();
      const requestId = res.headers.get('x-request-id') ?? '';
      expect(res.status).toBe(502);
      expect(requestId).not.toBe('');
      expect(html).toContain('<span class="code" id="error-code">portal_unreachable</span>');
      expect(html).toContain('The developer portal could not complete the sign-in.');
      expect(html).toContain(requestId);
      for (const internal of ['ECONNREFUSED', '/api/sso', 'is unreachable', portalPort, '127.0.0.1', 'TYK_']) {
        expect([internal, html.includes(internal)]).toEqual([internal, false]);
      }
      const logged = stack.broker.logs.lines.filter((l) => l.includes(requestId) && l.includes('"msg":"login failed"'));
      expect(logged.length).toBe(1);
      expect(logged[0]).toContain('portal_unreachable');
      expect(logged[0]).toMatch(/ECONNREFUSED|unreachable/);
    });
  });
});
