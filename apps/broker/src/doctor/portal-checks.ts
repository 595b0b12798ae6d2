import { isDomainError, parseOrganisationSyncSettings } from '@app/common';
import type { BrokerConfig } from '@app/config';
import type { TibProfile } from '@app/profiles';
import { readDashboardCredential, type TykPortalClient } from '@app/tyk-portal';
import { randomBytes } from 'node:crypto';
import { fail, pass, skip, type DoctorItem } from './doctor-report.js';

const message = (e: unknown) => (isDomainError(e) ? `${e.code}: ${e.message}` : String(e));

/** Team ids a developer profile sends the portal, with where each comes from. */
function referencedTeams(profile: TibProfile): [string, string][] {
  const refs: [string, string][] = [];
  if (profile.DefaultUserGroupID !== '') refs.push([profile.DefaultUserGroupID, 'DefaultUserGroupID']);
  for (const [group, team] of Object.entries(profile.UserGroupMapping ?? {})) {
    refs.push([team, `UserGroupMapping["${group}"]`]);
  }
  const sync = parseOrganisationSyncSettings(profile.IdentityHandlerConfig);
  for (const [org, team] of Object.entries(sync.teamMapping)) {
    refs.push([team, `OrganisationSync.TeamMapping["${org}"]`]);
  }
  return refs;
}

/**
 * The portal end of a profile, through the portal client's public methods: the SSO secret
 * (DashboardCredential) on the developer API, the management API token, and every team the profile
 * maps to.
 */
export async function checkPortal(
  profile: TibProfile,
  config: BrokerConfig,
  portal: TykPortalClient,
): Promise<DoctorItem[]> {
  const items: DoctorItem[] = [];
  if (config.tykApi.dashboard.endpoint === '') {
    return [
      fail(
        'Portal',
        'no portal address is configured',
        'set TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT and _PORT (TykAPISettings.DashboardConfig in tib.conf) to the portal',
      ),
    ];
  }
  let credential = '';
  try {
    credential = readDashboardCredential(profile.IdentityHandlerConfig);
  } catch (e) {
    items.push(
      fail(
        'Portal SSO secret',
        message(e),
        "set IdentityHandlerConfig.DashboardCredential to the portal's PORTAL_API_SECRET",
      ),
    );
  }
  if (credential === '' && items.length === 0) {
    items.push(
      fail(
        'Portal SSO secret',
        'IdentityHandlerConfig.DashboardCredential is empty',
        "set it to the portal's PORTAL_API_SECRET",
      ),
    );
  } else if (credential !== '') {
    try {
      // An SSO key nobody has: the answer "not found" proves the secret was accepted.
      await portal.findDeveloperBySsoKey(`sso-broker-doctor-${randomBytes(8).toString('hex')}`, credential);
      items.push(pass('Portal SSO secret', 'DashboardCredential accepted by the developer API'));
    } catch (e) {
      items.push(
        fail(
          'Portal SSO secret',
          message(e),
          isDomainError(e) && e.code === 'portal_auth_failed'
            ? "set IdentityHandlerConfig.DashboardCredential to the portal's PORTAL_API_SECRET"
            : 'check that the portal runs and the broker reaches it at TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT:_PORT',
        ),
      );
    }
  }

  const sync = parseOrganisationSyncSettings(profile.IdentityHandlerConfig);
  const refs = profile.ActionType === 'GenerateOrLoginDeveloperProfile' ? referencedTeams(profile) : [];
  if (config.portal.adminToken === '') {
    items.push(
      sync.enabled
        ? fail(
            'Portal admin token',
            'TYK_PORTAL_ADMIN_TOKEN is not set, and OrganisationSync needs it',
            'set TYK_PORTAL_ADMIN_TOKEN (or TYK_PORTAL_ADMIN_TOKEN_FILE) to the API token of a portal admin',
          )
        : skip('Portal admin token', 'not set (needed only for OrganisationSync)'),
    );
    if (refs.length > 0) {
      items.push(skip('Mapped teams', "cannot list the portal's teams without TYK_PORTAL_ADMIN_TOKEN"));
    }
    return items;
  }
  let teams: Map<string, string>;
  try {
    const organisations = await portal.listOrganisations();
    teams = new Map();
    for (const org of organisations) {
      for (const team of await portal.listTeams(org.ID)) teams.set(team.ID, `${org.Name} / ${team.Name}`);
    }
    items.push(pass('Portal admin token', `accepted (${organisations.length} organisation(s), ${teams.size} team(s))`));
  } catch (e) {
    items.push(
      fail(
        'Portal admin token',
        message(e),
        isDomainError(e) && e.code === 'portal_auth_failed'
          ? 'set TYK_PORTAL_ADMIN_TOKEN to the API token of a portal admin (portal UI: profile → API token)'
          : 'check that the portal runs and the broker reaches it',
      ),
    );
    return items;
  }
  if (refs.length === 0) {
    items.push(pass('Mapped teams', 'the profile maps to no team'));
  } else {
    const missing = refs.filter(([id]) => !teams.has(id));
    items.push(
      missing.length === 0
        ? pass('Mapped teams', refs.map(([id]) => `${id} (${teams.get(id)})`).join(', '))
        : fail(
            'Mapped teams',
            `not in the portal: ${missing.map(([id, where]) => `${id} from ${where}`).join(', ')}`,
            'use ids of existing portal teams (the portal refuses a login to an unknown team)',
          ),
    );
  }
  return items;
}
