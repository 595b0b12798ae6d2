import { randomBytes } from 'node:crypto';
import { AuditService } from '@app/audit';
import { OidcDiscoveryService } from '@app/cloudentity';
import { DomainError } from '@app/common';
import { providerConfigFlag, providerConfigString, socialProvider } from '@app/profiles';
import { Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import type { LoginOutcome } from './login-outcome.js';
import { LoginSettings, unknownProvider } from './login-settings.service.js';

/**
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) for `GET /auth/{id}/{provider}/logout`:
 * a 302 to the IdP's `end_session_endpoint` (from discovery) with `client_id`,
 * `post_logout_redirect_uri` (ProviderConfig.PostLogoutRedirectURL, else the ReturnURL's origin)
 * and a fresh `state`; straight to the post-logout URL when the IdP has no end-session endpoint
 * or cannot be reached (the user asked to leave: never strand them on an error). Audited as
 * `logout.requested`. The broker keeps no ID token, so no `id_token_hint`: the IdP may ask the
 * user to confirm.
 */
@Injectable()
export class LogoutService {
  private readonly logger = new Logger(LogoutService.name);

  constructor(
    private readonly settings: LoginSettings,
    private readonly discovery: OidcDiscoveryService,
    private readonly audit: AuditService,
  ) {}

  async logout(profileId: string, provider: string, req: Request & { id?: unknown }): Promise<LoginOutcome> {
    const { profile } = await this.settings.profile(profileId);
    const entry = socialProvider(profile, provider);
    if (!entry) throw unknownProvider(provider);
    const postLogout = this.postLogoutUrl(providerConfigString(profile, 'PostLogoutRedirectURL'), profile.ReturnURL);
    if (!postLogout) {
      throw new DomainError(
        'profile_misconfigured',
        `Profile ${profile.ID} has neither ProviderConfig.PostLogoutRedirectURL nor a ReturnURL to send the user to after logout`,
      );
    }
    let endSession: string | undefined;
    let reason: string | null = null;
    try {
      const doc = await this.discovery.get(entry.DiscoverURL, {
        allowInsecureHttp: providerConfigFlag(profile, 'AllowInsecureHttp'),
      });
      endSession = doc.end_session_endpoint;
      if (!endSession) reason = 'no_end_session_endpoint';
    } catch (error) {
      reason = 'discovery_failed';
      this.logger.warn(`logout: discovery failed (${(error as Error).message}); going straight to the post-logout URL`);
    }
    let location = postLogout;
    if (endSession) {
      const url = new URL(endSession);
      url.searchParams.set('client_id', entry.Key);
      url.searchParams.set('post_logout_redirect_uri', postLogout);
      url.searchParams.set('state', randomBytes(16).toString('base64url'));
      location = url.toString();
    }
    await this.audit.record({
      type: 'logout.requested',
      outcome: 'success',
      reason,
      actor: 'anonymous',
      target: `profile:${profile.ID}`,
      profileId: profile.ID,
      ip: req.ip ?? null,
      userAgent: req.get('user-agent') ?? null,
      requestId: typeof req.id === 'string' ? req.id : null,
      details: { provider: entry.Name, via: endSession ? 'end_session_endpoint' : 'post_logout_redirect' },
    });
    return { kind: 'redirect', status: 302, location };
  }

  private postLogoutUrl(configured: string, returnUrl: string): string | null {
    if (configured !== '') return configured;
    try {
      const origin = new URL(returnUrl).origin;
      return origin === 'null' ? null : `${origin}/`;
    } catch {
      return null;
    }
  }
}
