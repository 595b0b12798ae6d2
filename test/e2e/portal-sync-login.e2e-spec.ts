import pg from 'pg';
import { loginWithDevIdp } from '@test/support/dev-idp.js';
import { PORTAL_SECRET, guideProfile, hop, putProfile, startStack, type Stack } from '@test/support/stack.js';

/**
 * Whole logins (dev IdP → broker → portal emulator) for what the portal does not do itself
 * (issue 15): placement checked on the first login of a linked account (item 4), least-privilege
 * roles (item 6), registered developers only (item 7).
 */
describe('organisation sync, roles and registered-only through whole logins (e2e)', () => {
  let stack: Stack;
  let db: pg.Client;

  async function login(profileId: string, account: string) {
    const start = await hop(`${stack.broker.url}/auth/${profileId}/openid-connect`);
    expect(start.status).toBe(307);
    const cookie = start.res.headers
      .getSetCookie()
      .find((c) => c.startsWith('sso_broker_login='))!
      .split(';')[0];
    const callback = await loginWithDevIdp(start.location, account);
    return hop(callback, { headers: { cookie } });
  }

  const handler = (sync: Record<string, unknown>) => ({ DashboardCredential: PORTAL_SECRET, OrganisationSync: sync });

  beforeAll(async () => {
    stack = await startStack({
      profileIds: ['sync', 'roles', 'roleonly', 'regonly'],
      // People who hold an admin account in the portal and also sign in through a developer profile.
      idpEnv: {
        DEV_IDP_USERS: JSON.stringify(
          (['refuse', 'login'] as const).map((mode) => ({
            sub: `admin-${mode}`,
            email: `admin-${mode}@acme.example`,
            email_verified: true,
            name: `Admin ${mode}`,
            organization_id: 'acme',
            organization_name: 'Acme Corp',
            groups: ['developers', 'acme-admins'],
          })),
        ),
      },
    });
    await putProfile(stack, guideProfile(stack, 'sync', { IdentityHandlerConfig: handler({ Enabled: true }) }));
    await putProfile(
      stack,
      guideProfile(stack, 'roles', {
        IdentityHandlerConfig: handler({
          Enabled: true,
          RoleClaim: 'groups',
          RoleMapping: { 'acme-admins': 'consumer-admin', 'globex-admins': 'consumer-admin' },
        }),
      }),
    );
    await putProfile(
      stack,
      guideProfile(stack, 'roleonly', { IdentityHandlerConfig: handler({ DefaultRole: 'consumer-team-member' }) }),
    );
    await putProfile(stack, guideProfile(stack, 'regonly', { SSOOnlyForRegisteredUsers: true }));
    db = new pg.Client({ connectionString: stack.db.url });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await stack?.stop();
  });

  const events = async (type: string) =>
    (
      await db.query<{ details: Record<string, unknown> }>(
        'SELECT details FROM audit_events WHERE type = $1 ORDER BY id',
        [type],
      )
    ).rows.map((r) => r.details);

  it('should place a portal account the portal linked by email on its first SSO login (item 4)', async () => {
    const state = stack.portal.state;
    const legacy = state.createOrg('Legacy Partner');
    const legacyTeam = state.createTeam(legacy.ID, 'Legacy Team');
    const erin = state.createUser({
      Email: 'erin@globex.example',
      Role: 'consumer-team-member',
      OrganisationID: legacy.ID,
      Active: true,
    });
    state.updateUser(erin.ID, { Teams: [String(legacyTeam.ID)] });

    const first = await login('sync', 'erin');
    expect(first.location).toContain('/sso?nonce=');
    // The portal linked the account (no second user) and kept its team; the broker moved it.
    expect([...state.users.values()].filter((u) => u.Email === 'erin@globex.example')).toHaveLength(1);
    const globex = [...state.orgs.values()].find((o) => o.Name === 'Globex Inc')!;
    expect(state.getUser(erin.ID)).toMatchObject({
      OrganisationID: globex.ID,
      Teams: [state.defaultTeamOf(globex.ID).ID],
    });
    expect(await events('portal.developer_moved')).toHaveLength(1);
    const { rows } = await db.query<{ portal_user_id: string }>(
      "SELECT portal_user_id FROM developers WHERE subject = 'erin'",
    );
    expect(rows).toEqual([{ portal_user_id: String(erin.ID) }]);
  });

  // What the portal does when a developer SSO names an admin account is unknown (the emulator's
  // adminDeveloperSso): it refuses, or it signs the admin in and the developer lookups find it.
  // Either way the broker must not make the admin a consumer or move it into an organisation.
  it.each(['refuse', 'login'] as const)(
    'should never re-role or move a portal admin account through a developer login (adminDeveloperSso %s)',
    async (mode) => {
      const state = stack.portal.state;
      const email = `admin-${mode}@acme.example`;
      const admin = state.createUser({ Email: email, Role: 'provider-admin', Active: true });
      const unchanged = () =>
        expect(state.getUser(admin.ID)).toMatchObject({ Role: 'provider-admin', OrganisationID: 0, Teams: [] });
      const failures = async () =>
        (
          await db.query<{ reason: string }>(
            "SELECT reason FROM audit_events WHERE type = 'login.failed' AND developer_id = (SELECT id FROM developers WHERE subject = $1) ORDER BY id",
            [`admin-${mode}`],
          )
        ).rows.map((r) => r.reason);
      const changes = async () =>
        (
          await db.query<{ type: string }>(
            "SELECT type FROM audit_events WHERE type IN ('portal.developer_moved', 'portal.developer_role_changed') AND target = $1",
            [`portal-user:${admin.ID}`],
          )
        ).rows;
      stack.portal.setContract({ adminDeveloperSso: mode });
      try {
        // Placement and a managed role, a managed role alone, and again (the SSO-key lookup may
        // now find the admin account the portal linked on the first try).
        for (const profileId of ['roles', 'roleonly', 'roles']) {
          const refused = await login(profileId, `admin-${mode}`);
          expect(refused.location).toBe(`${stack.portal.url}/?fail=true&error=portal_rejected`);
          unchanged();
        }
      } finally {
        stack.portal.setContract({ adminDeveloperSso: 'refuse' });
      }
      // Under login the portal really linked the admin account (so later logins took the SSO-key path).
      expect(state.developers.has(admin.ID)).toBe(mode === 'login');
      expect(await failures()).toEqual(['portal_rejected', 'portal_rejected', 'portal_rejected']);
      expect(await changes()).toEqual([]);
      // No portal session for the admin: the broker never handed its nonce to the browser.
      expect([...state.sessions.values()].filter((x) => x.userId === admin.ID)).toEqual([]);
    },
  );

  it('should give developers the mapped role on every login, audited, and leave the portal admin role to the mapping (item 6)', async () => {
    const state = stack.portal.state;
    expect((await login('roles', 'bob')).location).toContain('/sso?nonce=');
    expect((await login('roles', 'alice')).location).toContain('/sso?nonce=');
    const bob = state.findUserByEmail('bob@acme.example')!;
    const alice = state.findUserByEmail('alice@acme.example')!;
    // The portal creates every SSO developer as a Consumer Admin (E6); the broker corrects it.
    expect(bob.Role).toBe('consumer-team-member');
    expect(alice.Role).toBe('consumer-admin');
    const acme = [...state.orgs.values()].find((o) => o.Name === 'Acme Corp')!;
    expect(bob.OrganisationID).toBe(acme.ID);
    expect(await events('portal.developer_role_changed')).toEqual([
      { before: 'consumer-admin', after: 'consumer-team-member' },
    ]);

    // Raised in the portal by hand: the next login applies the profile's role again.
    state.updateUser(bob.ID, { Role: 'consumer-admin' });
    expect((await login('roles', 'bob')).location).toContain('/sso?nonce=');
    expect(state.getUser(bob.ID).Role).toBe('consumer-team-member');
    expect(bob.Teams).toEqual([state.defaultTeamOf(acme.ID).ID]);
    expect(await events('portal.developer_role_changed')).toHaveLength(2);
  });

  it('should apply DefaultRole without organisation sync, right after the portal created the account (item 6)', async () => {
    expect((await login('roleonly', 'frank')).location).toContain('/sso?nonce=');
    expect(stack.portal.state.findUserByEmail('frank@freelance.example')?.Role).toBe('consumer-team-member');
  });

  it('should refuse a developer the portal does not know when the profile signs in registered developers only (item 7)', async () => {
    const state = stack.portal.state;
    const refused = await login('regonly', 'carol');
    expect(refused.location).toBe(`${stack.portal.url}/?fail=true&error=developer_not_registered`);
    expect(state.findUserByEmail('carol@globex.example')).toBeUndefined();
    const { rows } = await db.query<{ reason: string }>(
      "SELECT reason FROM audit_events WHERE type = 'login.failed' ORDER BY id DESC LIMIT 1",
    );
    expect(rows).toEqual([{ reason: 'developer_not_registered' }]);

    // erin has a portal account (made by hand before his first SSO login, above): he gets in.
    expect((await login('regonly', 'erin')).location).toContain('/sso?nonce=');
  });

  it('should apply DefaultRole to a new developer the bounded lookup misses (many users added since, an earlier miss)', async () => {
    const state = stack.portal.state;
    // The broker found the end of the user list earlier (20 per page, the emulator's cap); 100
    // users added since put the new account five pages past it, beyond one lookup's three pages.
    // carol's refused login above left a remembered "no such user", out of date once the portal
    // creates her account.
    for (let i = 0; i < 100; i++) {
      state.createUser({ Email: `filler-${i}@bulk.example`, Role: 'consumer-team-member', Active: true });
    }
    expect((await login('roleonly', 'carol')).location).toContain('/sso?nonce=');
    expect(stack.portal.state.findUserByEmail('carol@globex.example')?.Role).toBe('consumer-team-member');
    const { rows } = await db.query<{ portal_user_id: string }>(
      "SELECT portal_user_id FROM developers WHERE subject = 'carol'",
    );
    expect(rows).toEqual([{ portal_user_id: String(state.findUserByEmail('carol@globex.example')!.ID) }]);
  });
});
