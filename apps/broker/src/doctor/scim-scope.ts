import type { ProvisioningConfig } from '@app/config';
import { providerSettings, type TibProfile } from '@app/profiles';
import { pass, warn, type DoctorItem } from './doctor-report.js';

/**
 * The issuers the profiles sign developers in with, as developers are recorded: `issuerOf` each
 * openid-connect DiscoverURL (the discovery document's `issuer`, which may end in a slash the URL
 * does not show, as Auth0's does; null when it cannot be had).
 */
export async function profileIssuers(
  profiles: TibProfile[],
  issuerOf: (discoverUrl: string) => Promise<string | null>,
): Promise<string[]> {
  const urls = new Set<string>();
  for (const profile of profiles) {
    const entries = (providerSettings(profile) as { UseProviders?: Record<string, unknown>[] } | null)?.UseProviders;
    for (const e of Array.isArray(entries) ? entries : []) {
      if (e?.Name === 'openid-connect' && typeof e.DiscoverURL === 'string') urls.add(e.DiscoverURL);
    }
  }
  const issuers = await Promise.all([...urls].map(issuerOf));
  return [...new Set(issuers.filter((i): i is string => i !== null))].sort();
}

/**
 * Whether SCIM's links can cross IdPs: with profiles of more than one issuer, a SCIM client
 * without an issuer (BROKER_SCIM_ISSUERS) links its users by subject or email to a developer of
 * any of them, so another IdP's login can take a user (and its deprovisioning miss the right
 * developer). A scoped client whose issuer no profile uses never links anyone (the issuer is
 * compared exactly with the ID token's `iss`). Nothing when SCIM is off.
 */
export function scimScope(
  config: Pick<ProvisioningConfig, 'scimTokens' | 'scimIssuers'>,
  issuers: string[],
): DoctorItem[] {
  if (config.scimTokens.length === 0) return [];
  const scoped = (label: string) => Object.hasOwn(config.scimIssuers, label);
  const unscoped = config.scimTokens.map((t) => t.label).filter((label) => !scoped(label));
  // Exactly, as a login's issuer is matched (a trailing slash matters).
  const unused = Object.entries(config.scimIssuers).filter(([, issuer]) => !issuers.includes(issuer));
  const items: DoctorItem[] = [];
  if (unscoped.length > 0 && issuers.length > 1) {
    items.push(
      warn(
        'SCIM scope',
        `the profiles use ${issuers.length} issuers and the SCIM client(s) ${unscoped.join(', ')} have none: their users link to developers of any issuer, so a login at another IdP with the same subject or verified email can take a user, and its deprovisioning then misses the right developer`,
        'set BROKER_SCIM_ISSUERS=<label>=<issuer>,… for every SCIM token',
      ),
    );
  }
  for (const [label, issuer] of unused) {
    items.push(
      warn(
        'SCIM scope',
        `the SCIM client ${label} is scoped to ${issuer}, which no profile's IdP names as its issuer: its users never link to a developer`,
        "write the issuer exactly as the IdP's discovery document says (scheme, host, path, trailing slash)",
      ),
    );
  }
  if (items.length === 0) {
    items.push(
      pass(
        'SCIM scope',
        unscoped.length === 0 ? 'every SCIM client is scoped to an issuer' : 'one issuer: SCIM needs no scope',
      ),
    );
  }
  return items;
}
