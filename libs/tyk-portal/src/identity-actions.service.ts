import { DomainError, isDomainError } from '@app/common';
import { portalConfig, type PortalConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { appendNonce, appendTokenFragment, primaryGroupId, ssoKey, tokenCacheKey } from './derived-values.js';
import {
  readDashboardCredential,
  readDisableOneTokenPerApi,
  readOAuthSettings,
  readTokenAuthSettings,
} from './identity-handler-config.js';
import type {
  IdentityActionInput,
  IdentityActionResult,
  IdentityActionType,
  PortalLoginFacts,
} from './identity-actions.types.js';
import { PortalUserDirectory } from './portal-user-directory.js';
import type { TokenCache } from './token-cache.js';
import { TOKEN_CACHE } from './tyk-portal.constants.js';
import { TykPortalClient } from './tyk-portal.client.js';
import { buildTykSession } from './tyk-session.js';

/** The error's class or code, never its message (a store's message may quote the value). */
function errorName(error: unknown): string {
  if (error instanceof Error) return (error as Error & { code?: string }).code ?? error.name;
  return typeof error;
}

/**
 * TIB's four identity actions (tib.md §5), run after a successful login. The calls to Tyk are
 * TIB's (paths, headers, bodies); the endings differ on purpose: a 302 instead of TIB's 301, a
 * DomainError (→ FailureRedirect) instead of a 200 text page, and the previous token is really
 * revoked (TIB stores it raw but reads it back as JSON, so its revocation never runs).
 */
@Injectable()
export class IdentityActionsService {
  private readonly logger = new Logger(IdentityActionsService.name);

  constructor(
    private readonly client: TykPortalClient,
    @Inject(TOKEN_CACHE) private readonly tokenCache: TokenCache,
    @Inject(portalConfig.KEY) private readonly config: PortalConfig,
    private readonly directory: PortalUserDirectory,
  ) {}

  /** Runs one action; throws DomainError (portal_*, profile_invalid) when it cannot complete. */
  async run(action: IdentityActionType, input: IdentityActionInput): Promise<IdentityActionResult> {
    switch (action) {
      case 'GenerateOrLoginDeveloperProfile':
        return this.loginDeveloper(input);
      case 'GenerateOrLoginUserProfile':
        return this.loginUser(input);
      case 'GenerateTemporaryAuthToken':
        return this.temporaryAuthToken(input);
      case 'GenerateOAuthTokenForClient':
        return this.oauthTokenForClient(input);
      default: {
        const unknown: never = action;
        throw new DomainError('profile_invalid', `ActionType ${JSON.stringify(unknown)} is not one of TIB's actions`, {
          field: 'ActionType',
        });
      }
    }
  }

  private requireReturnUrl(input: IdentityActionInput): string {
    const url = input.profile.ReturnURL;
    if (url === '') {
      // TIB answers 200 text ("Success! (Have you set a return URL?)"); the broker fails before
      // touching the portal, so no nonce or developer is created for a login that cannot finish.
      throw new DomainError(
        'portal_not_configured',
        `Profile ${input.profile.ID} has no ReturnURL; set it to the portal's /sso URL (e.g. http://portal:3001/sso)`,
        { field: 'ReturnURL', profileId: input.profile.ID },
      );
    }
    return url;
  }

  private credential(input: IdentityActionInput, requiredFor: string): string {
    const credential = readDashboardCredential(input.profile.IdentityHandlerConfig);
    if (credential === '') {
      throw new DomainError(
        'profile_invalid',
        `IdentityHandlerConfig.DashboardCredential is empty; ${requiredFor} needs it (PORTAL_API_SECRET for the portal)`,
        { field: 'IdentityHandlerConfig.DashboardCredential' },
      );
    }
    return credential;
  }

  private async nonce(
    input: IdentityActionInput,
    section: 'portal' | 'dashboard',
    credential: string,
  ): Promise<string> {
    const { identity, profile } = input;
    const groupIds = input.portalTeamId ? [input.portalTeamId] : [...identity.groupIds];
    return this.client.createNonce(
      {
        ForSection: section,
        OrgID: profile.OrgID,
        EmailAddress: identity.email,
        DisplayName: identity.displayName,
        GroupID: primaryGroupId(groupIds),
        GroupsIDs: groupIds,
        SSOOnlyForRegisteredUsers: profile.SSOOnlyForRegisteredUsers,
      },
      credential,
    );
  }

  /** GenerateOrLoginDeveloperProfile (tib.md §5.2): nonce, developer upsert by SSO key, redirect. */
  private async loginDeveloper(input: IdentityActionInput): Promise<IdentityActionResult> {
    const returnUrl = this.requireReturnUrl(input);
    const credential = this.credential(input, 'the developer login');
    const { identity, profile } = input;
    const key = ssoKey(identity.userId, identity.provider);
    // Only `identity.email` passed mapping's checks (shape, email_verified, Domain): it alone
    // decides which portal account is looked up, created and placed. TIB writes the standard
    // `email` claim on a new developer even with CustomEmailField; the broker keeps that spelling
    // only when it is the checked address (case aside), never another, unchecked address.
    const rawEmail = identity.rawEmail;
    const createEmail =
      rawEmail !== undefined && rawEmail.toLowerCase() === identity.email.toLowerCase() ? rawEmail : identity.email;
    let existing: Awaited<ReturnType<TykPortalClient['findDeveloperBySsoKey']>> | undefined;
    if (profile.SSOOnlyForRegisteredUsers) {
      // The portal ignores this flag for developers (E7) and would create the account: the broker
      // enforces it, before any nonce exists.
      existing = await this.client.findDeveloperBySsoKey(key, credential);
      if (!existing && (await this.directory.findUserId(identity.email, { exhaustive: true })) === null) {
        throw new DomainError(
          'developer_not_registered',
          `Profile ${profile.ID} signs in registered developers only (SSOOnlyForRegisteredUsers) and the portal has no account for this developer`,
          { profileId: profile.ID },
        );
      }
    }
    // As TIB: the nonce first; the portal ties the developer it creates or updates to it.
    const nonce = await this.nonce(input, 'portal', credential);
    existing ??= await this.client.findDeveloperBySsoKey(key, credential);
    let facts: PortalLoginFacts;
    if (existing) {
      const email = existing.email === '' ? createEmail : existing.email;
      await this.client.updateDeveloper({ ...existing, nonce, email }, credential);
      facts = { ssoKey: key, developerId: existing.id, developerCreated: false, portalEmail: email };
    } else {
      await this.client.createDeveloper({ email: createEmail, orgId: profile.OrgID, nonce, ssoKey: key }, credential);
      facts = { ssoKey: key, developerId: null, developerCreated: true, portalEmail: createEmail };
    }
    return { kind: 'redirect', status: 302, location: appendNonce(returnUrl, nonce), portal: facts };
  }

  /** GenerateOrLoginUserProfile (tib.md §5.1): a `dashboard` nonce, then the same redirect. */
  private async loginUser(input: IdentityActionInput): Promise<IdentityActionResult> {
    const returnUrl = this.requireReturnUrl(input);
    let credential = readDashboardCredential(input.profile.IdentityHandlerConfig);
    // TIB's admin-only set-up: /api/sso refuses the empty credential and /admin/sso answers.
    if (credential === '' && this.config.tykApi.dashboard.adminSecret === '') {
      credential = this.credential(input, 'the admin login (or a DashboardConfig.AdminSecret)');
    }
    const nonce = await this.nonce(input, 'dashboard', credential);
    return { kind: 'redirect', status: 302, location: appendNonce(returnUrl, nonce) };
  }

  private cacheKeyFor(input: IdentityActionInput): string {
    // TIB builds this SSO key from the IdP's raw user id, not CustomUserIDField.
    const { identity, profile } = input;
    return tokenCacheKey(profile.ID, ssoKey(identity.subject ?? identity.userId, identity.provider));
  }

  private async cachedToken(cacheKey: string): Promise<string | null> {
    try {
      return await this.tokenCache.get(cacheKey);
    } catch (error) {
      // TIB skips the cache when Redis is down; so does the broker, loudly.
      this.logger.warn(`token cache read failed (${errorName(error)}); the previous token is not revoked`);
      return null;
    }
  }

  /** `ttlSeconds`: the token's own lifetime, after which there is nothing left to revoke. */
  private async rememberToken(
    input: IdentityActionInput,
    cacheKey: string,
    token: string,
    ttlSeconds?: number,
  ): Promise<void> {
    try {
      await this.tokenCache.set(cacheKey, token, ttlSeconds !== undefined && ttlSeconds > 0 ? ttlSeconds : undefined, {
        profileId: input.profile.ID,
        developerId: input.developerId ?? null,
      });
    } catch (error) {
      this.logger.warn(`token cache write failed (${errorName(error)}); this token will not be revoked next time`);
    }
  }

  private session(input: IdentityActionInput, baseApiId: string, expires: number, oauthClientId?: string) {
    const { identity, profile } = input;
    return buildTykSession({
      baseApiId,
      policyId: profile.MatchedPolicyID,
      orgId: profile.OrgID,
      expires,
      oauthClientId,
      userId: identity.subject ?? identity.userId,
      provider: identity.provider,
      accessToken: identity.accessToken ?? '',
    });
  }

  /** GenerateTemporaryAuthToken (tib.md §5.3): revoke the previous key, `POST /api/keys`, `#token=`. */
  private async temporaryAuthToken(input: IdentityActionInput): Promise<IdentityActionResult> {
    const { profile } = input;
    const tokenAuth = readTokenAuthSettings(profile.IdentityHandlerConfig);
    const credential = this.credential(input, 'GenerateTemporaryAuthToken');
    const cacheKey = this.cacheKeyFor(input);

    if (!readDisableOneTokenPerApi(profile.IdentityHandlerConfig)) {
      const previous = await this.cachedToken(cacheKey);
      if (previous) {
        try {
          await this.client.revokeApiKey(tokenAuth.BaseAPIID, previous, credential);
        } catch (error) {
          if (isDomainError(error) && error.code === 'portal_auth_failed') {
            // TIB: "Auth token generation failed due to invalid user credentials."
            throw new DomainError(
              'portal_auth_failed',
              'Auth token generation failed: the Dashboard refused DashboardCredential while revoking the previous key',
              error.details,
              { cause: error },
            );
          }
          this.logger.warn(`revoking the previous key failed, issuing a new one anyway: ${(error as Error).message}`);
        }
      }
    }

    const expires = Math.floor(Date.now() / 1000) + tokenAuth.Expires;
    const keyId = await this.client.createStandardKey(this.session(input, tokenAuth.BaseAPIID, expires), credential);
    await this.rememberToken(input, cacheKey, keyId, tokenAuth.Expires);

    if (profile.ReturnURL !== '') {
      return { kind: 'redirect', status: 302, location: appendTokenFragment(profile.ReturnURL, keyId) };
    }
    return { kind: 'json', status: 200, body: { key_id: keyId } };
  }

  /** GenerateOAuthTokenForClient (tib.md §5.4): revoke the previous token, Gateway authorize-client. */
  private async oauthTokenForClient(input: IdentityActionInput): Promise<IdentityActionResult> {
    const { profile } = input;
    const oauth = readOAuthSettings(profile.IdentityHandlerConfig);
    const credential = readDashboardCredential(profile.IdentityHandlerConfig);
    const cacheKey = this.cacheKeyFor(input);

    if (!readDisableOneTokenPerApi(profile.IdentityHandlerConfig)) {
      const previous = await this.cachedToken(cacheKey);
      if (previous && credential === '') {
        this.logger.warn('no DashboardCredential: the previous OAuth token cannot be revoked');
      } else if (previous) {
        // As TIB: revocation goes through the Dashboard and its failures are only logged.
        await this.client.revokeApiKey(oauth.BaseAPIID, previous, credential).catch((error: unknown) => {
          this.logger.warn(`revoking the previous OAuth token failed: ${(error as Error).message}`);
        });
      }
    }

    const answer = await this.client.authorizeOAuthClient({
      listenPath: oauth.APIListenPath,
      responseType: oauth.ResponseType,
      clientId: oauth.ClientId,
      redirectUri: oauth.RedirectURI,
      keyRules: this.session(input, oauth.BaseAPIID, -1, oauth.ClientId),
    });
    if (answer.access_token !== '') await this.rememberToken(input, cacheKey, answer.access_token, answer.expires_in);

    if (oauth.NoRedirect) {
      return {
        kind: 'json',
        status: 200,
        body: {
          access_token: answer.access_token,
          expires_in: answer.expires_in,
          redirect_to: answer.redirect_to,
          token_type: answer.token_type,
        },
      };
    }
    if (answer.redirect_to !== '') return { kind: 'redirect', status: 302, location: answer.redirect_to };
    return { kind: 'empty', status: 200 };
  }
}
