import type { IdentityMappingSettings, OidcClientSettings } from '@app/cloudentity';
import { DomainError, isDomainError, parseOrganisationSyncSettings, type OrganisationSyncSettings } from '@app/common';
import {
  providerConfigFlag,
  providerConfigString,
  ProfilesService,
  socialProvider,
  type SocialProviderEntry,
  type StoredProfile,
} from '@app/profiles';
import { Injectable } from '@nestjs/common';

/** A profile's provider, resolved to what the OpenID Connect strategy needs. */
export interface ResolvedProvider {
  stored: StoredProfile;
  entry: SocialProviderEntry;
  settings: OidcClientSettings;
}

interface Derived {
  providers: Map<string, ResolvedProvider | DomainError>;
  mapping: IdentityMappingSettings;
  sync: OrganisationSyncSettings;
}

/**
 * What the login path reads from a profile: the profile itself (from the in-memory cache), its
 * provider's OpenID Connect settings, the identity mapping and the organisation sync settings.
 * Computed once per stored profile object (the cache swaps the object when the profile changes,
 * so entries fall away with it).
 */
@Injectable()
export class LoginSettings {
  private readonly derived = new WeakMap<StoredProfile, Derived>();

  constructor(private readonly profiles: ProfilesService) {}

  /** The profile, or DomainError('profile_not_found') (a 404, not a login failure). */
  async profile(id: string): Promise<StoredProfile> {
    const stored = await this.profiles.cachedOrLoad(id);
    if (!stored) throw new DomainError('profile_not_found', `Profile ${id} not found`);
    return stored;
  }

  /** The named provider of the profile, or DomainError (`provider_not_found`, `provider_not_supported`). */
  provider(stored: StoredProfile, name: string): ResolvedProvider {
    const d = this.derive(stored);
    let resolved = d.providers.get(name);
    if (!resolved) {
      try {
        resolved = resolveProvider(stored, name);
      } catch (e) {
        if (!isDomainError(e)) throw e;
        resolved = e;
      }
      // Bounded: unknown provider names from requests must not grow the map without limit.
      if (d.providers.size < 16) d.providers.set(name, resolved);
    }
    if (resolved instanceof DomainError) throw resolved;
    return resolved;
  }

  mapping(stored: StoredProfile): IdentityMappingSettings {
    return this.derive(stored).mapping;
  }

  sync(stored: StoredProfile): OrganisationSyncSettings {
    return this.derive(stored).sync;
  }

  /** The profile's FailureRedirect, or '' when it has none. */
  failureRedirect(stored: StoredProfile): string {
    return providerConfigString(stored.profile, 'FailureRedirect');
  }

  private derive(stored: StoredProfile): Derived {
    let d = this.derived.get(stored);
    if (!d) {
      let sync: OrganisationSyncSettings;
      try {
        sync = parseOrganisationSyncSettings(stored.profile.IdentityHandlerConfig);
      } catch (error) {
        // The profile's own settings (saved before the save check matched this parser, or written
        // to the table by hand): the operator's problem, not the developer's bad request.
        if (!isDomainError(error)) throw error;
        throw new DomainError(
          'profile_misconfigured',
          `Profile ${stored.profile.ID}: ${error.message}`,
          error.details,
          {
            cause: error,
          },
        );
      }
      d = { providers: new Map(), mapping: mappingSettings(stored, sync), sync };
      this.derived.set(stored, d);
    }
    return d;
  }
}

/**
 * The UseProviders names TIB builds a goth provider for (providers/social.go, Social.Init); it
 * skips any other entry, so a name outside this list is as unknown to it as a missing one.
 */
const TIB_SOCIAL_PROVIDERS = new Set([
  'gplus',
  'github',
  'twitter',
  'linkedin',
  'dropbox',
  'digitalocean',
  'bitbucket',
  'salesforce',
  'openid-connect',
]);

/**
 * A provider name the profile does not have, with TIB's text: goth's error
 * (toth.GetProvider: `fmt.Errorf("no provider for %s exists", name)`), which
 * tothic.BeginAuthHandler answers as a 400 in TIB's envelope.
 */
export function unknownProvider(name: string): DomainError {
  return new DomainError('provider_not_found', `no provider for ${name} exists`);
}

function resolveProvider(stored: StoredProfile, name: string): ResolvedProvider {
  const profile = stored.profile;
  if (profile.ProviderName !== 'SocialProvider') {
    throw new DomainError(
      'provider_not_supported',
      `Profile ${profile.ID} uses ${profile.ProviderName}, which the broker does not run`,
    );
  }
  const entry = socialProvider(profile, name);
  if (!entry || !TIB_SOCIAL_PROVIDERS.has(entry.Name)) throw unknownProvider(name);
  if (entry.Name !== 'openid-connect') {
    throw new DomainError('provider_not_supported', `Provider ${entry.Name} is not supported; use openid-connect`);
  }
  const callbackBase = providerConfigString(profile, 'CallbackBaseURL').replace(/\/+$/, '');
  const method = entry.TokenEndpointAuthMethod;
  return {
    stored,
    entry,
    settings: {
      cacheKey: `${profile.ID}\u0000${entry.Name}\u0000${stored.version}`,
      profileId: profile.ID,
      providerName: entry.Name,
      clientId: entry.Key,
      clientSecret: entry.Secret,
      discoverUrl: entry.DiscoverURL,
      scopes: entry.Scopes && entry.Scopes.length > 0 ? entry.Scopes : ['openid', 'email', 'profile'],
      skipUserInfoRequest: entry.SkipUserInfoRequest,
      callbackUrl: `${callbackBase}/auth/${encodeURIComponent(profile.ID)}/${encodeURIComponent(entry.Name)}/callback`,
      tokenEndpointAuthMethod: method === 'client_secret_basic' || method === 'client_secret_post' ? method : undefined,
      allowInsecureHttp: providerConfigFlag(profile, 'AllowInsecureHttp'),
    },
  };
}

function mappingSettings(stored: StoredProfile, sync: OrganisationSyncSettings): IdentityMappingSettings {
  const p = stored.profile;
  return {
    customEmailField: p.CustomEmailField,
    customUserIdField: p.CustomUserIDField,
    customUserGroupField: p.CustomUserGroupField,
    userGroupSeparator: p.UserGroupSeparator,
    userGroupMapping: p.UserGroupMapping,
    defaultUserGroupId: p.DefaultUserGroupID,
    domain: p.ProviderConstraints.Domain,
    organisationClaim: sync.idClaim,
    organisationNameClaim: sync.nameClaim,
    allowUnverifiedEmail: providerConfigFlag(p, 'AllowUnverifiedEmail'),
    provider: 'openid-connect',
  };
}
