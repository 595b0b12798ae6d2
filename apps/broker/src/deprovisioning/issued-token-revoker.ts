import { IssuedTokensStore, type SealedToken } from '@app/developers';
import { ProfilesService, type TibProfile } from '@app/profiles';
import type { RevocationReport, TokenRevoker } from '@app/provisioning';
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

/** The action types whose profiles issue tokens the broker keeps (and so revokes). */
const issuesTokens = (p: TibProfile) =>
  p.ActionType === 'GenerateTemporaryAuthToken' || p.ActionType === 'GenerateOAuthTokenForClient';

/**
 * Revokes what the two token actions issued to a subject: for every profile that issues tokens,
 * the token kept under TIB's identity-cache key is revoked at the Dashboard and then forgotten.
 * A token that cannot be revoked (its profile has no DashboardCredential, was deleted or no
 * longer issues tokens, or it was sealed under another session secret) is reported as a failure
 * with the reason, never as revoked: it stays valid at the gateway until it expires.
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
   * unaudited (the retry, which finds only what is still on record, would not audit it). A token
   * that cannot be revoked is reported and kept: the profile may get its credential back, and the
   * developer's next deprovisioning (an erasure takes every token on record) tries again.
   */
  async revokeFor(subject: string, developerId: string, report: (r: RevocationReport) => Promise<void>): Promise<void> {
    const profiles = await this.profiles.list();
    const issuing = profiles.map(({ profile }) => profile).filter(issuesTokens);
    const read = new Set<string>();
    for (const profile of issuing) {
      const key = tokenCacheKey(profile.ID, ssoKey(subject, PROVIDER));
      const token = await this.tokens.get(key);
      if (!token) continue;
      read.add(profile.ID);
      if (!(await this.revoke(profile, token, report))) continue;
      await this.tokens.delete(key);
    }
    // Tokens under a profile deleted since (or turned into another action): their cache key can
    // no longer be made, but the rows name the developer. A row of a known profile that its key
    // did not find was sealed (and keyed) under another session secret: it cannot be read.
    const known = new Set(issuing.map((p) => p.ID));
    for (const profileId of await this.tokens.profilesOf(developerId)) {
      if (!known.has(profileId)) await report({ profileId, outcome: 'failure', reason: 'profile_gone' });
      else if (!read.has(profileId)) await report({ profileId, outcome: 'failure', reason: 'token_unreadable' });
    }
  }

  /** Tokens that cannot be revoked are reported and dropped with the rest: the erasure completes. */
  async revokeSealed(sealed: SealedToken[], report: (r: RevocationReport) => Promise<void>): Promise<void> {
    const profiles = new Map(
      (await this.profiles.list())
        .map(({ profile }) => profile)
        .filter(issuesTokens)
        .map((p) => [p.ID, p]),
    );
    for (const entry of sealed) {
      const profile = profiles.get(entry.profile_id);
      if (!profile) {
        await report({ profileId: entry.profile_id, outcome: 'failure', reason: 'profile_gone' });
        continue;
      }
      const token = this.tokens.unseal(entry);
      if (token === null) {
        await report({ profileId: profile.ID, outcome: 'failure', reason: 'token_unreadable' });
        continue;
      }
      await this.revoke(profile, token, report);
    }
  }

  /** Revokes the token and reports it; false (reported as a failure) when the profile cannot revoke. */
  private async revoke(
    profile: TibProfile,
    token: string,
    report: (r: RevocationReport) => Promise<void>,
  ): Promise<boolean> {
    const credential = readDashboardCredential(profile.IdentityHandlerConfig);
    if (credential === '') {
      await report({ profileId: profile.ID, outcome: 'failure', reason: 'no_dashboard_credential' });
      return false;
    }
    const apiId =
      profile.ActionType === 'GenerateTemporaryAuthToken'
        ? readTokenAuthSettings(profile.IdentityHandlerConfig).BaseAPIID
        : readOAuthSettings(profile.IdentityHandlerConfig).BaseAPIID;
    await this.client.revokeApiKey(apiId, token, credential);
    await report({ profileId: profile.ID, outcome: 'success' });
    return true;
  }
}
