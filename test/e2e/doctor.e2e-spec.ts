import { runBroker } from '../support/built.js';
import {
  ADMIN_SECRET,
  PORTAL_SECRET,
  PORTAL_TOKEN,
  guideProfile,
  putProfile,
  startStack,
  type Stack,
} from '../support/stack.js';

interface Item {
  check: string;
  status: 'pass' | 'fail' | 'warn' | 'skip';
  detail: string;
  fix?: string;
}
interface Report {
  profileId: string;
  ok: boolean;
  items: Item[];
}

/** The setup doctor against the local stack (dev IdP + portal emulator), and against each broken setting. */
describe('setup doctor: npm run broker -- doctor and GET /api/profiles/{id}/check (e2e)', () => {
  let stack: Stack;

  const check = async (id: string): Promise<Report> => {
    const res = await fetch(`${stack.broker.url}/api/profiles/${id}/check`, {
      headers: { Authorization: ADMIN_SECRET },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as { Status: string; ID: string; Data: Report };
    expect(body.Status).toBe('ok');
    return body.Data;
  };
  const failing = (r: Report) => r.items.filter((i) => i.status === 'fail').map((i) => i.check);
  const item = (r: Report, name: string) => r.items.find((i) => i.check === name);

  /** The guide profile with one thing changed, stored under its own ID. */
  async function broken(id: string, change: (p: Record<string, unknown>) => void): Promise<Report> {
    const profile = guideProfile(stack, id);
    change(profile);
    await putProfile(stack, profile);
    return check(id);
  }
  const config = (p: Record<string, unknown>) =>
    p.ProviderConfig as Record<string, unknown> & { UseProviders: Record<string, unknown>[] };

  beforeAll(async () => {
    // Every profile of this file is a registered redirect URI at the dev IdP, but bad-redirect's.
    stack = await startStack({
      profileIds: [
        'guide',
        'sync',
        'risky',
        'bad-secret',
        'bad-client',
        'bad-discovery',
        'bad-portal-secret',
        'bad-team',
        'custom-email',
        'plain-http',
        'ldap',
      ],
    });
    await putProfile(stack, guideProfile(stack, 'guide'));
    await putProfile(
      stack,
      guideProfile(stack, 'sync', {
        IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET, OrganisationSync: { Enabled: true } },
      }),
    );
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('should pass every check of the integration guide profile against the local stack', async () => {
    for (const id of ['guide', 'sync']) {
      const report = await check(id);
      expect({ id, failing: failing(report) }).toEqual({ id, failing: [] });
      expect(report.ok).toBe(true);
      for (const name of [
        'IdP discovery',
        'IdP signing keys',
        'Client credentials',
        'Redirect URI',
        'Portal SSO secret',
        'Portal admin token',
        'Mapped teams',
        'HTTPS',
        'CustomEmailField',
      ]) {
        expect({ name, status: item(report, name)?.status }).toEqual({ name, status: 'pass' });
      }
    }
  });

  it('should name the problem and the fix for each broken setting', async () => {
    const cases: [string, (p: Record<string, unknown>) => void, string, RegExp][] = [
      [
        'bad-secret',
        (p) => (config(p).UseProviders[0].Secret = 'not-the-client-secret'),
        'Client credentials',
        /UseProviders\[\]\.Key and Secret/,
      ],
      [
        'bad-client',
        (p) => (config(p).UseProviders[0].Key = 'no-such-client'),
        'Client credentials',
        /client id and secret/,
      ],
      [
        'bad-discovery',
        (p) => (config(p).UseProviders[0].DiscoverURL = `${stack.idp.issuer}/nope/.well-known/openid-configuration`),
        'IdP discovery',
        /DiscoverURL/,
      ],
      [
        'bad-redirect',
        (p) => (config(p).CallbackBaseURL = 'http://127.0.0.1:1'),
        'Redirect URI',
        /register http:\/\/127\.0\.0\.1:1\/auth\/bad-redirect\/openid-connect\/callback/,
      ],
      [
        'bad-portal-secret',
        (p) => (p.IdentityHandlerConfig = { DashboardCredential: 'wrong-portal-secret' }),
        'Portal SSO secret',
        /PORTAL_API_SECRET/,
      ],
      ['bad-team', (p) => (p.DefaultUserGroupID = '987654'), 'Mapped teams', /existing portal teams/],
      ['custom-email', (p) => (p.CustomEmailField = 'mail'), 'CustomEmailField', /AllowUnverifiedEmail/],
      ['plain-http', (p) => (p.ReturnURL = 'http://portal.example.com/sso'), 'HTTPS', /https/],
      ['ldap', (p) => (p.ProviderName = 'ADProvider'), 'Provider', /openid-connect/],
    ];
    for (const [id, change, name, fix] of cases) {
      const report = await broken(id, change);
      // An unknown client is also refused at the authorize endpoint.
      const also = id === 'bad-client' ? ['Redirect URI'] : [];
      expect({ id, ok: report.ok, failing: failing(report) }).toEqual({ id, ok: false, failing: [name, ...also] });
      expect({ id, fix: item(report, name)?.fix }).toEqual({ id, fix: expect.stringMatching(fix) as unknown });
    }
  });

  it('should warn, without failing, about AllowUnverifiedEmail and a missing FailureRedirect', async () => {
    const report = await broken('risky', (p) => {
      config(p).AllowUnverifiedEmail = true;
      delete config(p).FailureRedirect;
    });
    expect(report.ok).toBe(true);
    expect(item(report, 'AllowUnverifiedEmail')?.status).toBe('warn');
    expect(item(report, 'FailureRedirect')?.status).toBe('warn');
  });

  it('should answer an unknown profile with 404 in the TIB envelope', async () => {
    const res = await fetch(`${stack.broker.url}/api/profiles/nope/check`, {
      headers: { Authorization: ADMIN_SECRET },
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { Status: string }).Status).toBe('error');
  });

  describe('the CLI (built entry)', () => {
    const env = () => {
      const portal = new URL(stack.portal.url);
      return {
        DATABASE_URL: stack.db.url,
        TYK_LOGLEVEL: 'warn',
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${portal.protocol}//${portal.hostname}`,
        TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: portal.port,
        TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
      };
    };

    it('should print ✓ lines and exit 0 for a good profile, ✗ with the fix and exit 1 for a broken one', async () => {
      const good = await runBroker(['doctor', '--profile', 'guide'], env());
      expect(good.stdout).toMatch(/^Profile guide: ready$/m);
      expect(good.stdout).toMatch(/^ {2}✓ Client credentials: client portal-sso-broker accepted/m);
      expect(good.stdout).not.toMatch(/✗/);
      expect(good.code).toBe(0);

      const bad = await runBroker(['doctor', '--profile', 'bad-secret'], env());
      expect(bad.stdout).toMatch(/^Profile bad-secret: NOT ready$/m);
      expect(bad.stdout).toMatch(/^ {2}✗ Client credentials: .*\n {6}fix: set UseProviders\[\]\.Key and Secret/m);
      expect(bad.code).toBe(1);

      const wrongToken = await runBroker(['doctor', '--profile', 'sync'], {
        ...env(),
        TYK_PORTAL_ADMIN_TOKEN: 'not-the-token',
      });
      expect(wrongToken.stdout).toMatch(/✗ Portal admin token: portal_auth_failed/);
      expect(wrongToken.code).toBe(1);
    });

    it('should create, probe and remove a throwaway organisation, team and user with --write-probe', async () => {
      const before = (await fetch(`${stack.portal.url}/portal-api/organisations`, {
        headers: { Authorization: PORTAL_TOKEN },
      }).then((r) => r.json())) as unknown[];
      const res = await runBroker(['doctor', '--profile', 'guide', '--write-probe'], env());
      expect(res.stdout).toMatch(/✓ Write probe: created organisation \d+, team \d+ and user \d+/);
      expect(res.stdout).toMatch(/✓ Teams form: the portal places a user in a team from Teams as ids \(as strings\)/);
      expect(res.stdout).toMatch(/✓ Paging: per_page=1 gives 1 item/);
      expect(res.stdout).toMatch(/✓ Unknown SSO key: answered 404/);
      expect(res.stdout).not.toMatch(/clean-up/);
      expect(res.code).toBe(0);
      const after = (await fetch(`${stack.portal.url}/portal-api/organisations`, {
        headers: { Authorization: PORTAL_TOKEN },
      }).then((r) => r.json())) as unknown[];
      expect(after).toEqual(before);
    });
  });
});
