import { IdpHttpClient, issuerFromDiscoverUrl, OidcDiscoveryService } from '@app/cloudentity';
import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { ProfilesService, providerConfigString, providerSettings, type TibProfile } from '@app/profiles';
import { readDashboardCredential, TykPortalClient } from '@app/tyk-portal';
import { Inject, Injectable } from '@nestjs/common';
import { fail, report, skip, type DoctorItem, type DoctorReport } from './doctor-report.js';
import { checkIdp, type IdpUnderTest } from './idp-checks.js';
import { checkPortal } from './portal-checks.js';
import { writeProbe } from './portal-write-probe.js';
import { riskySettings } from './risky-settings.js';
import { profileIssuers, scimScope } from './scim-scope.js';

/** The openid-connect providers of a profile, with the callback URL the login sends. */
function providersOf(profile: TibProfile): IdpUnderTest[] {
  const entries =
    (providerSettings(profile) as { UseProviders?: Record<string, unknown>[] } | null)?.UseProviders ?? [];
  const base = providerConfigString(profile, 'CallbackBaseURL').replace(/\/+$/, '');
  return entries
    .filter((e) => e.Name === 'openid-connect')
    .map((e) => ({
      discoverUrl: typeof e.DiscoverURL === 'string' ? e.DiscoverURL : '',
      clientId: typeof e.Key === 'string' ? e.Key : '',
      clientSecret: typeof e.Secret === 'string' ? e.Secret : '',
      callbackUrl: `${base}/auth/${encodeURIComponent(profile.ID)}/openid-connect/callback`,
      scopes: Array.isArray(e.Scopes) && e.Scopes.length > 0 ? (e.Scopes as string[]) : ['openid', 'email', 'profile'],
      tokenEndpointAuthMethod:
        e.TokenEndpointAuthMethod === 'client_secret_basic' || e.TokenEndpointAuthMethod === 'client_secret_post'
          ? e.TokenEndpointAuthMethod
          : undefined,
    }));
}

/**
 * The setup doctor: checks one profile end to end without a user (the IdP, the client, the redirect
 * URI, the portal's secrets and teams, risky settings, whether SCIM's links can cross IdPs), each
 * item pass/fail with the fix.
 * `writeProbe` also creates and removes a throwaway organisation, team and user in the portal.
 */
@Injectable()
export class DoctorService {
  constructor(
    private readonly profiles: ProfilesService,
    private readonly discovery: OidcDiscoveryService,
    private readonly idpHttp: IdpHttpClient,
    private readonly portal: TykPortalClient,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  /** The issuer a login through this DiscoverURL records: its discovery document's, else the URL's. */
  private async issuerOf(discoverUrl: string): Promise<string | null> {
    try {
      return (await this.discovery.get(discoverUrl)).issuer;
    } catch {
      try {
        return issuerFromDiscoverUrl(discoverUrl);
      } catch {
        return null;
      }
    }
  }

  async check(profileId: string, options: { writeProbe?: boolean } = {}): Promise<DoctorReport> {
    const { profile } = await this.profiles.get(profileId);
    const items: DoctorItem[] = [...riskySettings(profile)];
    if (this.config.provisioning.scimTokens.length > 0) {
      const issuers = await profileIssuers(
        (await this.profiles.list()).map((p) => p.profile),
        (url) => this.issuerOf(url),
      );
      items.push(...scimScope(this.config.provisioning, issuers));
    }
    const providers = profile.ProviderName === 'SocialProvider' ? providersOf(profile) : [];
    if (providers.length === 0) {
      items.push(
        fail(
          'Provider',
          `${profile.ProviderName} without an openid-connect entry: the broker cannot run this profile (provider_not_supported)`,
          'use ProviderName SocialProvider with a UseProviders entry named openid-connect',
        ),
      );
    }
    for (const idp of providers) items.push(...(await checkIdp(idp, this.discovery, this.idpHttp)));
    if (
      profile.ActionType === 'GenerateOrLoginDeveloperProfile' ||
      profile.ActionType === 'GenerateOrLoginUserProfile'
    ) {
      items.push(...(await checkPortal(profile, this.config, this.portal)));
    } else {
      items.push(
        skip('Portal', `${profile.ActionType} talks to the Dashboard and Gateway, which the doctor does not check`),
      );
    }
    if (options.writeProbe) {
      let credential = '';
      try {
        credential = readDashboardCredential(profile.IdentityHandlerConfig);
      } catch {
        // reported by the portal checks above
      }
      items.push(...(await writeProbe(this.config, this.portal, credential)));
    }
    return report(profile.ID, items);
  }
}
