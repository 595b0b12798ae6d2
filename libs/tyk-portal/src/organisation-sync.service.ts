import { DomainError, isConsumerRole, type OrganisationSyncSettings } from '@app/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OrganisationCreateAttempt, OrganisationLinkStore } from './organisation-link-store.js';
import { ownValue } from './organisation-sync.settings.js';
import { PortalUserDirectory, type DirectoryLookupOptions } from './portal-user-directory.js';
import { ORGANISATION_LINK_STORE } from './tyk-portal.constants.js';
import { TykPortalClient } from './tyk-portal.client.js';
import type { PortalOrganisation, PortalUser } from './tyk-portal.types.js';

export interface OrganisationResolveInput {
  /**
   * The IdP's issuer: organisation links are keyed by (issuer, organisation id), so two IdPs'
   * organisations with the same id stay two portal organisations.
   */
  issuer: string;
  settings: Pick<OrganisationSyncSettings, 'enabled' | 'idClaim' | 'nameClaim'> & {
    teamMapping?: Record<string, string>;
  };
  /** The developer's Cloudentity organisation id (from `settings.idClaim`). */
  organisationId: string | null | undefined;
  /** Its name (from `settings.nameClaim`); names a new portal organisation, else the id does. */
  organisationName?: string | null;
}

/** Where a developer of that organisation belongs in the portal. */
export interface OrganisationResolution {
  portalOrgId: string;
  portalTeamId: string;
  /** `mapping`: TeamMapping; `link`: remembered; `created`: a portal organisation was created now. */
  source: 'mapping' | 'link' | 'created';
  /** True when this call created the portal organisation (audit `portal.organisation_created`). */
  created: boolean;
}

/** A user's organisation id and teams as the portal lists them (ids or names, see PortalUser). */
export interface PortalPlacement {
  organisationId: string;
  teams: string[];
}

/** Outcome of {@link OrganisationSyncService.moveUserIfNeeded} (audit `portal.developer_moved`). */
export interface UserMoveResult {
  moved: boolean;
  before: PortalPlacement;
  after: PortalPlacement;
}

/** What {@link OrganisationSyncService.reconcileUser} should make true of a portal user. */
export interface UserTarget {
  /** The organisation and team; absent: placement is left alone. */
  placement?: { portalOrgId: string; portalTeamId: string } | null;
  /** The portal role; absent or null: the role is left alone. */
  role?: string | null;
}

/**
 * Outcome of {@link OrganisationSyncService.reconcileUser}: `moved` audits
 * `portal.developer_moved`, `roleChanged` audits `portal.developer_role_changed`.
 */
export interface UserReconcileResult extends UserMoveResult {
  roleChanged: boolean;
  roleBefore: string;
  roleAfter: string;
}

/** How long a team's organisation (found by scanning) is trusted; teams rarely change orgs. */
const TEAM_ORG_TTL_MS = 10 * 60 * 1000;

/**
 * Keeps a developer's portal organisation and team in line with their Cloudentity organisation,
 * which neither TIB nor the portal does (the portal assigns a team only to a developer with none).
 * Resolution order: explicit TeamMapping (the organisation is the team's), then the remembered
 * link, then a new portal organisation named from the name claim, remembered through the
 * {@link OrganisationLinkStore} so concurrent first logins create one. Its name is recorded as an
 * intent before the POST, so when the answer is lost the next login adopts the organisation the
 * portal made (named so, owned by no link) instead of creating a second. The team is the mapped
 * one, else the organisation's default team.
 */
@Injectable()
export class OrganisationSyncService {
  private readonly logger = new Logger(OrganisationSyncService.name);
  private readonly teamOrg = new Map<string, { orgId: string; at: number }>();

  constructor(
    private readonly client: TykPortalClient,
    @Inject(ORGANISATION_LINK_STORE) private readonly links: OrganisationLinkStore,
    private readonly directory: PortalUserDirectory,
  ) {}

  /**
   * The portal organisation and team for a Cloudentity organisation, or null when sync is
   * disabled or the developer has no organisation (the login then proceeds as TIB's would).
   */
  async resolve(input: OrganisationResolveInput): Promise<OrganisationResolution | null> {
    // Not trimmed: mapIdentity refuses an id with surrounding whitespace, so this is the id the
    // broker stores and audits for the developer.
    const orgId = input.organisationId;
    if (!input.settings.enabled || !orgId) return null;

    const { issuer } = input;
    // Own property only: an organisation id of "constructor" or "__proto__" is simply unmapped.
    const mappedTeam = ownValue(input.settings.teamMapping, orgId);
    if (typeof mappedTeam === 'string' && mappedTeam !== '') {
      const hint = await this.links.find(issuer, orgId);
      const portalOrgId = await this.organisationOfTeam(mappedTeam, hint?.portalOrgId);
      if (portalOrgId === null) {
        throw new DomainError(
          'profile_invalid',
          `OrganisationSync.TeamMapping maps organisation ${orgId} to portal team ${mappedTeam}, which the portal does not have`,
          { field: `IdentityHandlerConfig.OrganisationSync.TeamMapping.${orgId}` },
        );
      }
      return { portalOrgId, portalTeamId: mappedTeam, source: 'mapping', created: false };
    }

    const remembered = await this.links.find(issuer, orgId);
    if (remembered) {
      const portalTeamId = remembered.portalTeamId ?? (await this.requireDefaultTeam(remembered.portalOrgId));
      return { portalOrgId: remembered.portalOrgId, portalTeamId, source: 'link', created: false };
    }

    const name = input.organisationName?.trim() || orgId;
    const { link, created } = await this.links.claim(issuer, orgId, async (attempt) => {
      const lost = await this.lostOrganisation(attempt);
      // Written before the POST: if its answer is lost, the next claim looks for what it made.
      if (!lost) await attempt.recordIntent(name);
      const org = lost ?? (await this.client.createOrganisation(name));
      if (lost) this.logger.log(`adopted portal organisation ${org.ID}, created by an attempt whose answer was lost`);
      else this.logger.log(`created portal organisation ${org.ID} for a new Cloudentity organisation`);
      // The organisation exists now: remember it even if its team cannot be read yet, or the
      // next login would create a second one.
      const team = await this.defaultTeam(org.ID).catch((error: unknown) => {
        this.logger.warn(`default team of new portal organisation ${org.ID} unknown yet: ${(error as Error).message}`);
        return null;
      });
      return { portalOrgId: org.ID, ...(team && { portalTeamId: team }), ...(lost && { adopted: true }) };
    });
    const portalTeamId = link.portalTeamId ?? (await this.requireDefaultTeam(link.portalOrgId));
    return { portalOrgId: link.portalOrgId, portalTeamId, source: created ? 'created' : 'link', created };
  }

  /**
   * The organisation an earlier `POST /portal-api/organisations` of this claim made although its
   * answer was lost: one named as a pending attempt named it that no link owns (the last listed
   * when there are several). Null when no attempt is pending or the portal has none: then
   * nothing was made, and creating is safe.
   */
  private async lostOrganisation(attempt: OrganisationCreateAttempt): Promise<PortalOrganisation | null> {
    if (attempt.pendingNames.length === 0) return null;
    const names = new Set(attempt.pendingNames);
    const named = (await this.client.listOrganisations()).filter((o) => names.has(o.Name));
    if (named.length === 0) return null;
    const owned = await attempt.linked(named.map((o) => o.ID));
    return named.filter((o) => !owned.has(o.ID)).at(-1) ?? null;
  }

  /**
   * Reads the portal user and, when their organisation differs or the team is not among theirs,
   * moves them with `PUT /portal-api/users/{id}` (the organisation and `Teams: [team]`). Throws
   * DomainError('not_found') when the portal has no such user (the caller should look them up
   * by email again).
   */
  async moveUserIfNeeded(
    portalUserId: string,
    target: { portalOrgId: string; portalTeamId: string },
  ): Promise<UserMoveResult> {
    const { moved, before, after } = await this.reconcileUser(portalUserId, { placement: target });
    return { moved, before, after };
  }

  /**
   * Makes one portal user's organisation, team and role what the broker says, in at most one
   * `GET` and one `PUT /portal-api/users/{id}`. The role goes out with the user's current teams
   * (as ids, converted from the names the portal lists) when only the role changes. Throws
   * DomainError('not_found') when the portal has no such user, and DomainError('portal_rejected')
   * without sending anything when the user is not a developer (an admin account: a developer
   * login whose email or SSO key the portal matched to an admin must never demote or move it).
   */
  async reconcileUser(portalUserId: string, target: UserTarget): Promise<UserReconcileResult> {
    const user = await this.client.getUser(portalUserId);
    if (!user) {
      throw new DomainError('not_found', `The portal has no user ${portalUserId}`, { portalUserId });
    }
    this.directory.remember(user.Email, user.ID);
    const before: PortalPlacement = { organisationId: user.OrganisationID, teams: [...user.Teams] };
    const placement = target.placement ?? null;
    const role = target.role ?? null;
    if ((placement !== null || role !== null) && !isConsumerRole(user.Role)) {
      this.logger.warn(`portal user ${portalUserId} has role ${user.Role}, not a developer's: left unchanged`);
      throw new DomainError(
        'portal_rejected',
        `The portal account for this developer login is not a developer account (role ${user.Role}); the broker does not change an admin's role, organisation or teams, so the login is refused`,
        { portalUserId },
      );
    }
    const needsMove =
      placement !== null &&
      !(user.OrganisationID === placement.portalOrgId && (await this.inTeam(user.Teams, placement)));
    const needsRole = role !== null && user.Role !== role;
    if (!needsMove && !needsRole) {
      return { moved: false, before, after: before, roleChanged: false, roleBefore: user.Role, roleAfter: user.Role };
    }
    const organisationId = needsMove ? placement.portalOrgId : user.OrganisationID;
    const teams = needsMove ? [placement.portalTeamId] : await this.teamIds(user);
    const updated = await this.client.updateUser(portalUserId, {
      Email: user.Email,
      First: user.First,
      Last: user.Last,
      Role: needsRole ? role : user.Role,
      OrganisationID: organisationId,
      Active: user.Active,
      Provider: user.Provider,
      Teams: teams,
    });
    const after: PortalPlacement = needsMove
      ? {
          organisationId: updated.OrganisationID !== '' ? updated.OrganisationID : placement.portalOrgId,
          teams: updated.Teams.length > 0 ? updated.Teams : [placement.portalTeamId],
        }
      : before;
    if (needsMove) this.logger.log(`moved portal user ${portalUserId} to organisation ${after.organisationId}`);
    const roleAfter = needsRole ? updated.Role || role : user.Role;
    if (needsRole) this.logger.log(`portal user ${portalUserId}: role ${user.Role} -> ${roleAfter}`);
    return { moved: needsMove, before, after, roleChanged: needsRole, roleBefore: user.Role, roleAfter };
  }

  /** The user's teams as ids: the portal lists names (E1), the write takes ids until proven otherwise. */
  private async teamIds(user: PortalUser): Promise<string[]> {
    if (user.Teams.length === 0 || user.OrganisationID === '' || user.OrganisationID === '0') return [...user.Teams];
    const catalogue = await this.client.listTeams(user.OrganisationID);
    return user.Teams.map(
      (ref) => catalogue.find((t) => t.ID === ref)?.ID ?? catalogue.find((t) => t.Name === ref)?.ID,
    ).filter((id): id is string => id !== undefined);
  }

  /** Whether the user's teams (ids, or names as some portals list them) include the target team. */
  private async inTeam(teams: string[], target: { portalOrgId: string; portalTeamId: string }): Promise<boolean> {
    if (teams.includes(target.portalTeamId)) return true;
    if (teams.length === 0) return false;
    const team = (await this.client.listTeams(target.portalOrgId)).find((t) => t.ID === target.portalTeamId);
    return team !== undefined && teams.includes(team.Name);
  }

  /**
   * The portal user id for an email through the {@link PortalUserDirectory}: a bounded number of
   * pages per call (misses remembered briefly), or the whole list with `exhaustive`. The caller
   * remembers the id so later logins cost no lookup. Null when not found (yet).
   */
  async findPortalUserIdByEmail(email: string, options: DirectoryLookupOptions = {}): Promise<string | null> {
    return this.directory.findUserId(email, options);
  }

  /** Drops a remembered email → user id that proved wrong (the portal has no such user any more). */
  forgetPortalUser(email: string): void {
    this.directory.forget(email);
  }

  /** The organisation's default team (`Default: true`), else its first team; null if it has none. */
  async defaultTeam(portalOrgId: string): Promise<string | null> {
    const teams = await this.client.listTeams(portalOrgId);
    for (const t of teams) this.teamOrg.set(t.ID, { orgId: portalOrgId, at: Date.now() });
    const team = teams.find((t) => t.Default) ?? teams[0];
    return team ? team.ID : null;
  }

  private async requireDefaultTeam(portalOrgId: string): Promise<string> {
    const team = await this.defaultTeam(portalOrgId);
    if (team === null) {
      throw new DomainError('portal_rejected', `Portal organisation ${portalOrgId} has no team to put developers in`, {
        portalOrgId,
      });
    }
    return team;
  }

  /** Which organisation a team belongs to: cache, then the hinted organisation, then a scan. */
  private async organisationOfTeam(teamId: string, hintOrgId?: string): Promise<string | null> {
    const cached = this.teamOrg.get(teamId);
    if (cached && Date.now() - cached.at < TEAM_ORG_TTL_MS) return cached.orgId;
    const seen = new Set<string>();
    const look = async (orgId: string): Promise<boolean> => {
      if (seen.has(orgId)) return false;
      seen.add(orgId);
      const teams = await this.client.listTeams(orgId);
      const now = Date.now();
      for (const t of teams) this.teamOrg.set(t.ID, { orgId, at: now });
      return teams.some((t) => t.ID === teamId);
    };
    if (hintOrgId && (await look(hintOrgId))) return hintOrgId;
    for (const org of await this.client.listOrganisations()) {
      if (await look(org.ID)) return org.ID;
    }
    this.teamOrg.delete(teamId);
    return null;
  }
}
