import { IssuedTokensStore, type SealedToken } from '@app/developers';
import { ProfilesService, type TibProfile } from '@app/profiles';
import type { TokenRevoker } from '@app/provisioning';
import {
  TykPortalClient,
  readDashboardCredential,
  readOAuthSettings,
  readTokenAuthSettings,
  ssoKey,
  tokenCacheKey,
} from '@app/tyk-portal';
import { Injectable } from '@nestjs/common';

/** The only provider the login flow serves (see LoginFlowService); the token actions key by it. */
const PROVIDER = 'openid-connect';

/**
 * Revokes what the two token actions issued to a subject: for every profile that issues tokens,
 * the token kept under TIB's identity-cache key is revoked at the Dashboard and then forgotten.
 * A profile without a DashboardCredential cannot revoke: its token is only forgotten (the login
 * path logs the same limitation).
 */
@Injectable()
export class IssuedTokenRevoker implements TokenRevoker {
  constructor(
    private readonly profiles: ProfilesService,
    private readonly tokens: IssuedTokensStore,
    private readonly client: TykPortalClient,
  ) {}

  /**
   * Each revocation is reported (audited) before its token is forgotten: when a later profile's
   * revocation throws, the earlier ones are already audited, and a token is never forgotten
   * unaudited (the retry, which finds only what is still on record, would not audit it).
   */
  async revokeFor(subject: string, revoked: (r: { profileId: string }) => Promise<void>): Promise<void> {
    for (const profile of await this.tokenProfiles()) {
      const key = tokenCacheKey(profile.ID, ssoKey(subject, PROVIDER));
      const token = await this.tokens.get(key);
      if (!token) continue;
      await this.revoke(profile, token);
      await revoked({ profileId: profile.ID });
      await this.tokens.delete(key);
    }
  }

  async revokeSealed(sealed: SealedToken[], revoked: (r: { profileId: string }) => Promise<void>): Promise<void> {
    const profiles = new Map((await this.tokenProfiles()).map((p) => [p.ID, p]));
    for (const entry of sealed) {
      const profile = profiles.get(entry.profile_id);
      const token = profile ? this.tokens.unseal(entry) : null;
      if (!profile || !token) continue;
      await this.revoke(profile, token);
      await revoked({ profileId: profile.ID });
    }
  }

  private async tokenProfiles(): Promise<TibProfile[]> {
    return (await this.profiles.list())
      .map(({ profile }) => profile)
      .filter((p) => p.ActionType === 'GenerateTemporaryAuthToken' || p.ActionType === 'GenerateOAuthTokenForClient');
  }

  private async revoke(profile: TibProfile, token: string): Promise<void> {
    const apiId =
      profile.ActionType === 'GenerateTemporaryAuthToken'
        ? readTokenAuthSettings(profile.IdentityHandlerConfig).BaseAPIID
        : readOAuthSettings(profile.IdentityHandlerConfig).BaseAPIID;
    const credential = readDashboardCredential(profile.IdentityHandlerConfig);
    if (credential !== '') await this.client.revokeApiKey(apiId, token, credential);
  }
}
