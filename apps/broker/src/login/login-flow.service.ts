import { AuditService } from '@app/audit';
import { mapIdentity, type VerifiedLogin } from '@app/cloudentity';
import { DomainError, isDomainError, LruCache, type RequestContextData } from '@app/common';
import { DevelopersService } from '@app/developers';
import { ScimUsersService } from '@app/provisioning';
import {
  IdentityActionsService,
  OrganisationSyncService,
  readRole,
  type IdentityActionResult,
  type OrganisationResolution,
} from '@app/tyk-portal';
import { Injectable } from '@nestjs/common';
import { BrokerMetrics } from '../metrics/broker-metrics.service.js';
import type { LoginAttempt } from './login-attempt.js';
import { LoginFailedException } from './login-failures.service.js';
import type { LoginOutcome } from './login-outcome.js';
import { LoginSettings } from './login-settings.service.js';

/** Re-check a remembered placement after this long, to catch changes made in the portal itself. */
const PLACEMENT_TTL_MS = 10 * 60 * 1000;

/**
 * The developer's way in after the IdP vouched for them (ARCHITECTURE.md "The flow"; LoginGuard
 * and CloudentityStrategy did the OpenID Connect part): identity mapping → developer row
 * (libs/developers) → organisation sync and the profile's TIB action (libs/tyk-portal) → audit →
 * the action's answer (usually 302 to ReturnURL?nonce=…). Any failure is thrown as
 * LoginFailedException, which LoginFailureFilter renders (login.failed, FailureRedirect).
 */
@Injectable()
export class LoginFlowService {
  /** Where each portal user was last placed (per instance): a repeat login skips the portal check. */
  private readonly placed = new LruCache<string, { key: string; at: number }>(50_000);

  constructor(
    private readonly settings: LoginSettings,
    private readonly developers: DevelopersService,
    private readonly actions: IdentityActionsService,
    private readonly organisations: OrganisationSyncService,
    private readonly audit: AuditService,
    private readonly metrics: BrokerMetrics,
    private readonly scimUsers: ScimUsersService,
  ) {}

  async complete(attempt: LoginAttempt, verified: VerifiedLogin, ctx: RequestContextData): Promise<LoginOutcome> {
    const { stored } = attempt;
    let developerId: string | null = null;
    let organisationId: string | null = null;
    try {
      const { settings } = this.settings.provider(stored, attempt.provider);
      const profile = stored.profile;
      const mapping = this.settings.mapping(stored);
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
        // The portal SSO key belongs to the developer-profile action alone: a token profile's
        // login (GenerateTemporaryAuthToken, …) makes no portal developer, so it neither claims
        // nor is refused for a key another developer holds.
        ssoKey: profile.ActionType === 'GenerateOrLoginDeveloperProfile' ? identity.ssoKey : null,
      });
      developerId = developer.id;
      // A user pre-provisioned over SCIM is linked now; an inactive one refuses the login.
      await this.scimUsers.atLogin(developer);

      const sync = this.settings.sync(stored);
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
        developerId: developer.id,
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
          result.portal.developerCreated,
          profile.ID,
          ctx,
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
        ...ctx,
        details: {
          provider: settings.providerName,
          action: profile.ActionType,
          ...(placement ? { portalOrgId: placement.portalOrgId, portalTeamId: placement.portalTeamId } : {}),
        },
      });
      this.metrics.loginStep('callback', 'success', 'ok', attempt.started);
      return this.answer(result);
    } catch (error) {
      throw new LoginFailedException(attempt, error, { developerId, organisationId });
    }
  }

  /**
   * Keeps the developer's portal user in the organisation and team Cloudentity says they belong
   * to, and in the role the profile gives them. The portal user id is looked up by email (bounded
   * work, see PortalUserDirectory), then remembered on the developer row; a user the portal no
   * longer has is looked up again once. A role to apply, or an account the portal created (or
   * linked by email) on this login, must be found now: left alone it would keep the portal's
   * Consumer Admin role (E6) or a linked account's old team (E4). So when the bounded lookup
   * misses, the whole user list is walked (newest pages first; once per developer, as the id is
   * then kept), and a user still not found fails the login (portal_rejected). Otherwise placement
   * waits for a later login. Placement alone is re-checked at most every PLACEMENT_TTL_MS; a
   * managed role on every login.
   */
  private async reconcileDeveloper(
    developerId: string,
    knownPortalUserId: string | null,
    email: string,
    placement: OrganisationResolution | null,
    role: string | null,
    createdNow: boolean,
    profileId: string,
    ctx: RequestContextData,
  ): Promise<void> {
    let portalUserId = knownPortalUserId;
    // A miss remembered from before the portal created the account is out of date.
    const fresh = createdNow;
    for (let attempt = 1; attempt <= 2; attempt++) {
      if (!portalUserId) {
        portalUserId = await this.organisations.findPortalUserIdByEmail(email, { fresh });
        if (!portalUserId && (role !== null || createdNow)) {
          portalUserId = await this.organisations.findPortalUserIdByEmail(email, { exhaustive: true, fresh });
          if (!portalUserId) {
            throw new DomainError(
              'portal_rejected',
              `The portal has no user with the developer's email after the SSO login; ${
                role !== null ? `the role ${role}` : 'the organisation and team'
              } could not be applied, so the login is refused rather than leave the portal's default (Consumer Admin)`,
              { developerId, profileId },
            );
          }
        }
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
        ...ctx,
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
}
