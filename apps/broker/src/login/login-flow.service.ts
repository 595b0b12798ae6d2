import { AuditService } from '@app/audit';
import { mapIdentity, OidcLoginService, type IdentityMappingSettings, type OidcClientSettings } from '@app/cloudentity';
import { DomainError, LruCache, clipText, isDomainError, loggableError, type ErrorCode } from '@app/common';
import { DevelopersService } from '@app/developers';
import { ScimUsersService } from '@app/provisioning';
import {
  providerConfigFlag,
  providerConfigString,
  ProfilesService,
  socialProvider,
  type SocialProviderEntry,
  type StoredProfile,
} from '@app/profiles';
import {
  IdentityActionsService,
  OrganisationSyncService,
  parseOrganisationSyncSettings,
  readRole,
  type IdentityActionResult,
  type OrganisationResolution,
  type OrganisationSyncSettings,
} from '@app/tyk-portal';
import { Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';
import { isDatabaseUnavailable } from '../common/all-exceptions.filter.js';
import { statusForCode } from '../common/error-status.js';
import { publicMessage } from '../common/public-messages.js';
import { LoginMetrics } from '../metrics/login-metrics.js';
import { errorPage } from '../pages/html.js';
import type { LoginOutcome } from './login-outcome.js';

interface Derived {
  providers: Map<string, ResolvedProvider | DomainError>;
  mapping: IdentityMappingSettings;
  sync: OrganisationSyncSettings;
}

/** Re-check a remembered placement after this long, to catch changes made in the portal itself. */
const PLACEMENT_TTL_MS = 10 * 60 * 1000;

interface ResolvedProvider {
  stored: StoredProfile;
  entry: SocialProviderEntry;
  settings: OidcClientSettings;
}

function requestMeta(req: Request & { id?: unknown }) {
  return {
    ip: req.ip ?? null,
    userAgent: req.get('user-agent') ?? null,
    requestId: typeof req.id === 'string' ? req.id : null,
  };
}

/** Appends `error=<code>` to the profile's FailureRedirect, keeping its query and fragment. */
export function failureLocation(failureRedirect: string, code: string): string {
  const url = new URL(failureRedirect);
  url.searchParams.set('error', code);
  return url.toString();
}

/**
 * The developer's way in (ARCHITECTURE.md "The flow"): profile from the in-memory cache →
 * OpenID Connect (libs/cloudentity) → identity mapping → developer row (libs/developers) →
 * organisation sync and the profile's TIB action (libs/tyk-portal) → audit → redirect.
 * Every failure is audited as login.failed with its code and ends at FailureRedirect?error=<code>
 * or the broker's error page.
 */
@Injectable()
export class LoginFlowService {
  private readonly logger = new Logger(LoginFlowService.name);
  /**
   * What the login path derives from a profile, computed once per stored profile object (the
   * cache swaps the object when the profile changes, so entries fall away with it).
   */
  private readonly derived = new WeakMap<StoredProfile, Derived>();
  /** Where each portal user was last placed (per instance): a repeat login skips the portal check. */
  private readonly placed = new LruCache<string, { key: string; at: number }>(50_000);

  constructor(
    private readonly profiles: ProfilesService,
    private readonly oidc: OidcLoginService,
    private readonly developers: DevelopersService,
    private readonly actions: IdentityActionsService,
    private readonly organisations: OrganisationSyncService,
    private readonly audit: AuditService,
    private readonly metrics: LoginMetrics,
    private readonly scimUsers: ScimUsersService,
  ) {}

  async start(profileId: string, provider: string, req: Request, browserBinding?: string): Promise<LoginOutcome> {
    const stored = this.profile(profileId);
    const started = process.hrtime.bigint();
    try {
      const resolved = this.provider(stored, provider);
      const location = await this.oidc.start(resolved.settings, req, { browserBinding });
      this.metrics.loginStep('start', 'success', 'ok', started);
      return { kind: 'redirect', status: 302, location };
    } catch (error) {
      return this.fail(stored, provider, error, req, 'start', started);
    }
  }

  async callback(profileId: string, provider: string, req: Request, browserBinding?: string): Promise<LoginOutcome> {
    const stored = this.profile(profileId);
    const started = process.hrtime.bigint();
    let developerId: string | null = null;
    let organisationId: string | null = null;
    try {
      const { settings } = this.provider(stored, provider);
      const profile = stored.profile;
      const verified = await this.oidc.finish(settings, req, { browserBinding });
      const { mapping } = this.derive(stored);
      // Known before mapping can fail, so a refused login is still found by organisation.
      const claimedOrg = verified.claims[mapping.organisationClaim];
      organisationId = typeof claimedOrg === 'string' && claimedOrg !== '' ? claimedOrg : null;
      const identity = mapIdentity(verified.claims, mapping);
      organisationId = identity.organisationId;
      const { developer } = await this.developers.recordLogin({
        issuer: verified.issuer,
        subject: verified.subject,
        email: identity.email,
        emailVerified: identity.emailVerified,
        name: identity.displayName,
        organisationId: identity.organisationId,
        organisationName: identity.organisationName,
        ssoKey: identity.ssoKey,
      });
      developerId = developer.id;
      // A user pre-provisioned over SCIM is linked now; an inactive one refuses the login.
      await this.scimUsers.atLogin(developer);

      const { sync } = this.derive(stored);
      const placement = await this.organisations.resolve({
        issuer: verified.issuer,
        settings: sync,
        organisationId: identity.organisationId,
        organisationName: identity.organisationName,
      });
      // A newly created portal organisation is audited by the link store, in the link's transaction.

      const result = await this.actions.run(profile.ActionType, {
        identity: {
          email: identity.email,
          rawEmail: typeof verified.claims.email === 'string' ? verified.claims.email : identity.email,
          userId: identity.userId,
          subject: verified.subject,
          displayName: identity.displayName,
          groupIds: identity.groupIds,
          provider: settings.providerName,
          organisation: identity.organisationId
            ? { id: identity.organisationId, name: identity.organisationName }
            : null,
        },
        profile: {
          ID: profile.ID,
          ActionType: profile.ActionType,
          OrgID: profile.OrgID,
          ReturnURL: profile.ReturnURL,
          IdentityHandlerConfig: profile.IdentityHandlerConfig,
          SSOOnlyForRegisteredUsers: profile.SSOOnlyForRegisteredUsers,
          MatchedPolicyID: profile.MatchedPolicyID,
        },
        portalTeamId: placement?.portalTeamId ?? null,
      });

      // Checked on the first login too: a "created" answer may be an existing portal account the
      // portal linked by email, which keeps its team (E4), and the portal makes every SSO-created
      // developer a Consumer Admin (E6), so the role is applied right after creation.
      const role = readRole(verified.claims, sync);
      if ((placement || role) && result.kind === 'redirect' && result.portal) {
        await this.reconcileDeveloper(
          developer.id,
          developer.portalUserId ?? null,
          result.portal.portalEmail,
          placement,
          role,
          profile.ID,
          req,
        );
      }

      await this.audit.record({
        type: 'login.succeeded',
        outcome: 'success',
        actor: `developer:${developer.id}`,
        target: `profile:${profile.ID}`,
        profileId: profile.ID,
        developerId: developer.id,
        organisationId: identity.organisationId,
        ...requestMeta(req),
        details: {
          provider: settings.providerName,
          action: profile.ActionType,
          ...(placement ? { portalOrgId: placement.portalOrgId, portalTeamId: placement.portalTeamId } : {}),
        },
      });
      this.metrics.loginStep('callback', 'success', 'ok', started);
      return this.answer(result);
    } catch (error) {
      return this.fail(stored, provider, error, req, 'callback', started, developerId, organisationId);
    }
  }

  /**
   * Keeps the developer's portal user in the organisation and team Cloudentity says they belong
   * to, and in the role the profile gives them. The portal user id is looked up by email (bounded
   * work, see PortalUserDirectory), then remembered on the developer row; a user the portal no
   * longer has is looked up again once. Not found yet: nothing to do on this login. Placement
   * alone is re-checked at most every PLACEMENT_TTL_MS; a managed role on every login.
   */
  private async reconcileDeveloper(
    developerId: string,
    knownPortalUserId: string | null,
    email: string,
    placement: OrganisationResolution | null,
    role: string | null,
    profileId: string,
    req: Request,
  ): Promise<void> {
    let portalUserId = knownPortalUserId;
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (!portalUserId) {
        portalUserId = await this.organisations.findPortalUserIdByEmail(email);
        if (!portalUserId) return;
        // Throws developer_blocked when a blocked developer has this portal account.
        await this.developers.setPortalLink(developerId, { portalUserId });
      }
      const key = `${placement?.portalOrgId ?? '-'}/${placement?.portalTeamId ?? '-'}`;
      const last = this.placed.get(portalUserId);
      if (role === null && last && last.key === key && Date.now() - last.at < PLACEMENT_TTL_MS) return;
      let result;
      try {
        result = await this.organisations.reconcileUser(portalUserId, { placement, role });
      } catch (error) {
        if (attempt === 1 && isDomainError(error) && error.code === 'not_found') {
          this.organisations.forgetPortalUser(email);
          this.placed.delete(portalUserId);
          portalUserId = null;
          continue;
        }
        throw error;
      }
      this.placed.set(portalUserId, { key, at: Date.now() });
      const base = {
        outcome: 'success' as const,
        actor: 'system',
        target: `portal-user:${portalUserId}`,
        profileId,
        developerId,
        ...requestMeta(req),
      };
      if (result.moved) {
        await this.audit.record({
          ...base,
          type: 'portal.developer_moved',
          details: { before: result.before, after: result.after },
        });
      }
      if (result.roleChanged) {
        await this.audit.record({
          ...base,
          type: 'portal.developer_role_changed',
          details: { before: result.roleBefore, after: result.roleAfter },
        });
      }
      return;
    }
  }

  private answer(result: IdentityActionResult): LoginOutcome {
    switch (result.kind) {
      case 'redirect':
        return { kind: 'redirect', status: 302, location: result.location };
      case 'json':
        return { kind: 'json', status: result.status, body: result.body };
      case 'empty':
        return { kind: 'text', status: 200, text: '' };
    }
  }

  private profile(id: string): StoredProfile {
    const stored = this.profiles.cached(id);
    if (!stored) throw new DomainError('profile_not_found', `Profile ${id} not found`);
    return stored;
  }

  private derive(stored: StoredProfile): Derived {
    let d = this.derived.get(stored);
    if (!d) {
      const sync = parseOrganisationSyncSettings(stored.profile.IdentityHandlerConfig);
      d = { providers: new Map(), mapping: this.mappingSettings(stored, sync), sync };
      this.derived.set(stored, d);
    }
    return d;
  }

  private provider(stored: StoredProfile, name: string): ResolvedProvider {
    const d = this.derive(stored);
    let resolved = d.providers.get(name);
    if (!resolved) {
      try {
        resolved = this.resolveProvider(stored, name);
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

  private resolveProvider(stored: StoredProfile, name: string): ResolvedProvider {
    const profile = stored.profile;
    if (profile.ProviderName !== 'SocialProvider') {
      throw new DomainError(
        'provider_not_supported',
        `Profile ${profile.ID} uses ${profile.ProviderName}, which the broker does not run`,
      );
    }
    const entry = socialProvider(profile, name);
    if (!entry) throw new DomainError('provider_not_found', `Profile ${profile.ID} has no provider ${name}`);
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
        tokenEndpointAuthMethod:
          method === 'client_secret_basic' || method === 'client_secret_post' ? method : undefined,
        allowInsecureHttp: providerConfigFlag(profile, 'AllowInsecureHttp'),
      },
    };
  }

  private mappingSettings(stored: StoredProfile, sync: OrganisationSyncSettings): IdentityMappingSettings {
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

  private async fail(
    stored: StoredProfile,
    provider: string,
    error: unknown,
    req: Request & { id?: unknown },
    step: 'start' | 'callback',
    started: bigint,
    developerId: string | null = null,
    organisationId: string | null = null,
  ): Promise<LoginOutcome> {
    let code: ErrorCode;
    if (isDomainError(error)) {
      code = error.code;
    } else if (isDatabaseUnavailable(error)) {
      code = 'unavailable';
    } else {
      code = 'unavailable';
      this.logger.error(
        { error: loggableError(error), step, profileId: stored.profile.ID },
        'login failed unexpectedly',
      );
    }
    // Unknown profile/provider are answered as 404 by the global filter, not as a login failure.
    if (code === 'provider_not_found') throw error;
    const status: number = statusForCode(code);
    if (isDomainError(error)) {
      // The detail (a setting's name, an upstream URL, a socket error) is for the log only; the
      // browser gets the code, a sentence and the request id to quote (issue 13).
      const detail = { step, code, profileId: stored.profile.ID, detail: clipText(error.message, 500) };
      if (status >= 500) this.logger.warn(detail, 'login failed');
      else this.logger.log(detail, 'login failed');
    } else if (isDatabaseUnavailable(error)) {
      this.logger.warn({ step, code, profileId: stored.profile.ID, error: loggableError(error) }, 'login failed');
    }
    try {
      await this.audit.record({
        type: 'login.failed',
        outcome: 'failure',
        reason: code,
        actor: developerId ? `developer:${developerId}` : 'anonymous',
        target: `profile:${stored.profile.ID}`,
        profileId: stored.profile.ID,
        developerId,
        organisationId,
        ...requestMeta(req),
        // The provider is a path segment anyone can make 16,000 characters long.
        details: { step, provider: clipText(provider, 128) },
      });
    } catch (auditError) {
      this.logger.warn({ reason: (auditError as Error).message, code }, 'could not audit login.failed');
    }
    this.metrics.loginStep(step, 'failure', code, started);
    const failureRedirect = providerConfigString(stored.profile, 'FailureRedirect');
    if (failureRedirect) {
      return { kind: 'redirect', status: 302, location: failureLocation(failureRedirect, code) };
    }
    return {
      kind: 'page',
      status,
      html: errorPage(status, code, publicMessage(code), typeof req.id === 'string' ? req.id : ''),
    };
  }
}
