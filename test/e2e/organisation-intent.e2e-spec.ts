import pg from 'pg';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { PORTAL_SECRET, guideProfile, hop, putProfile, startStack, type Stack } from '@test/support/stack.js';

/**
 * A new Cloudentity organisation's portal organisation when `POST /portal-api/organisations` has
 * an unknown outcome: the portal created the organisation but its answer was lost (a reset, or a
 * 5xx after the commit). The first login fails; the next one must adopt that organisation, not
 * create a second one of the same name (the developers of one Cloudentity organisation would
 * be split across two portal organisations).
 */
describe('organisation creation with an unknown outcome (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;

  async function login(account: string) {
    const start = await hop(`${stack.broker.url}/auth/sync/openid-connect`);
    expect(start.status).toBe(307);
    const cookie = start.res.headers
      .getSetCookie()
      .find((c) => c.startsWith('sso_broker_login='))!
      .split(';')[0];
    const callback = await loginWithDevIdp(start.location, account);
    return hop(callback, { headers: { cookie } });
  }

  const orgsNamed = (name: string) => [...stack.portal.state.orgs.values()].filter((o) => o.Name === name);

  beforeAll(async () => {
    stack = await startStack({ profileIds: ['sync'] });
    await putProfile(
      stack,
      guideProfile(stack, 'sync', {
        IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET, OrganisationSync: { Enabled: true } },
      }),
    );
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.stop();
  });

  it.each([
    { how: 'the connection reset', account: 'bob', ceOrg: 'acme', name: 'Acme Corp', failStatus: undefined },
    { how: 'a 502 after the commit', account: 'carol', ceOrg: 'globex', name: 'Globex Inc', failStatus: 502 },
  ])(
    'should make exactly one portal organisation when the creation answer is lost ($how)',
    async ({ account, ceOrg, name, failStatus }) => {
      stack.portal.setFaults({
        loseAnswer: true,
        methods: ['POST'],
        paths: ['/portal-api/organisations'],
        ...(failStatus !== undefined && { failStatus }),
      });
      const first = await login(account);
      stack.portal.clearFaults();
      // The login fails cleanly (a FailureRedirect with a portal error code), yet the portal made it.
      expect(first.status).toBe(302);
      expect(first.location).toMatch(new RegExp(`^${stack.portal.url}/\\?fail=true&error=portal_`));
      expect(orgsNamed(name)).toHaveLength(1);
      const { rows: noLink } = await db.query('SELECT 1 FROM portal_org_links WHERE cloudentity_org_id = $1', [ceOrg]);
      expect(noLink).toEqual([]);

      const second = await login(account);
      expect(second.location).toContain('/sso?nonce=');
      const [org] = orgsNamed(name);
      expect(orgsNamed(name)).toHaveLength(1);
      const developer = [...stack.portal.state.users.values()].find((u) => u.Email.startsWith(`${account}@`))!;
      expect(developer.OrganisationID).toBe(org.ID);
      expect(developer.Teams).toEqual([stack.portal.state.defaultTeamOf(org.ID).ID]);
      const { rows: links } = await db.query<{ portal_org_id: string }>(
        'SELECT portal_org_id FROM portal_org_links WHERE cloudentity_org_id = $1',
        [ceOrg],
      );
      expect(links).toEqual([{ portal_org_id: String(org.ID) }]);
      // The intent is settled with the link, and the adoption audited as the creation it was.
      const { rows: intents } = await db.query('SELECT 1 FROM portal_org_intents WHERE cloudentity_org_id = $1', [
        ceOrg,
      ]);
      expect(intents).toEqual([]);
      const { rows: audited } = await db.query<{ details: Record<string, unknown> }>(
        "SELECT details FROM audit_events WHERE type = 'portal.organisation_created' AND organisation_id = $1",
        [ceOrg],
      );
      expect(audited).toEqual([{ details: expect.objectContaining({ portal_org_id: String(org.ID), adopted: true }) }]);

      // Later logins use the link: still one organisation.
      expect((await login(account)).location).toContain('/sso?nonce=');
      expect(orgsNamed(name)).toHaveLength(1);
    },
  );
});
