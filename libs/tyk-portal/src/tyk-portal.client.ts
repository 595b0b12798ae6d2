import { Injectable } from '@nestjs/common';
import { TykDeveloperApiClient } from './developer-api.client.js';
import { DEFAULT_PER_PAGE } from './portal-admin-api.js';
import {
  TykManagementApiClient,
  type SetUserActiveOptions,
  type SetUserActiveResult,
  type TeamsWriteForm,
} from './management-api.client.js';
import { TykSsoApiClient } from './sso-api.client.js';
import type {
  NewPortalDeveloper,
  OAuthAuthorizeRequest,
  OAuthTokenResponse,
  PortalDeveloper,
  PortalOrganisation,
  PortalOrganisationDetail,
  PortalTeam,
  PortalUser,
  PortalUserUpdate,
  SsoRequest,
} from './tyk-portal.types.js';

export { DEFAULT_PER_PAGE, MAX_PAGES } from './portal-admin-api.js';
export type { TeamsWriteForm } from './management-api.client.js';
export { GO_ZERO_TIME, portalIdValue } from './tyk-portal.codec.js';

/**
 * Everything the broker says to the Tyk portal, Dashboard and Gateway, in one injectable: TIB's
 * calls exactly as TIB makes them (the SSO API in {@link TykSsoApiClient}; the developer, key and
 * OAuth calls in {@link TykDeveloperApiClient}) and the portal's management API for organisation
 * sync ({@link TykManagementApiClient}). Each method is its client's; every one throws a
 * DomainError with a `portal_*` code on failure.
 */
@Injectable()
export class TykPortalClient {
  constructor(
    readonly sso: TykSsoApiClient,
    readonly developers: TykDeveloperApiClient,
    readonly management: TykManagementApiClient,
  ) {}

  // ---- SSO API (TIB's calls) -------------------------------------------------------------

  /** See {@link TykSsoApiClient.createNonce}. */
  createNonce(body: SsoRequest, credential: string): Promise<string> {
    return this.sso.createNonce(body, credential);
  }

  // ---- Developer API, Dashboard keys and Gateway OAuth (TIB's calls) ---------------------

  /** See {@link TykDeveloperApiClient.findDeveloperBySsoKey}. */
  findDeveloperBySsoKey(key: string, credential: string): Promise<PortalDeveloper | null> {
    return this.developers.findDeveloperBySsoKey(key, credential);
  }

  /** See {@link TykDeveloperApiClient.createDeveloper}. */
  createDeveloper(dev: NewPortalDeveloper, credential: string): Promise<void> {
    return this.developers.createDeveloper(dev, credential);
  }

  /** See {@link TykDeveloperApiClient.updateDeveloper}. */
  updateDeveloper(dev: PortalDeveloper, credential: string): Promise<void> {
    return this.developers.updateDeveloper(dev, credential);
  }

  /** See {@link TykDeveloperApiClient.createStandardKey}. */
  createStandardKey(session: Record<string, unknown>, credential: string): Promise<string> {
    return this.developers.createStandardKey(session, credential);
  }

  /** See {@link TykDeveloperApiClient.revokeApiKey}. */
  revokeApiKey(apiId: string, key: string, credential: string): Promise<'revoked' | 'not_found'> {
    return this.developers.revokeApiKey(apiId, key, credential);
  }

  /** See {@link TykDeveloperApiClient.authorizeOAuthClient}. */
  authorizeOAuthClient(request: OAuthAuthorizeRequest): Promise<OAuthTokenResponse> {
    return this.developers.authorizeOAuthClient(request);
  }

  // ---- Management API (/portal-api) -----------------------------------------------------

  /** See {@link TykManagementApiClient.listUsers}. */
  listUsers(perPage = DEFAULT_PER_PAGE): Promise<PortalUser[]> {
    return this.management.listUsers(perPage);
  }

  /** See {@link TykManagementApiClient.listUsersPage}. */
  listUsersPage(page: number, perPage = DEFAULT_PER_PAGE): Promise<PortalUser[]> {
    return this.management.listUsersPage(page, perPage);
  }

  /** See {@link TykManagementApiClient.findUser}. */
  findUser(predicate: (user: PortalUser) => boolean, perPage = DEFAULT_PER_PAGE): Promise<PortalUser | null> {
    return this.management.findUser(predicate, perPage);
  }

  /** See {@link TykManagementApiClient.findUserIdByEmail}. */
  findUserIdByEmail(email: string, perPage = DEFAULT_PER_PAGE): Promise<string | null> {
    return this.management.findUserIdByEmail(email, perPage);
  }

  /** See {@link TykManagementApiClient.getUser}. */
  getUser(id: string): Promise<PortalUser | null> {
    return this.management.getUser(id);
  }

  /** See {@link TykManagementApiClient.updateUser}. */
  updateUser(id: string, update: PortalUserUpdate): Promise<PortalUser> {
    return this.management.updateUser(id, update);
  }

  /** See {@link TykManagementApiClient.setUserActive}. */
  setUserActive(id: string, active: boolean, options?: SetUserActiveOptions): Promise<SetUserActiveResult> {
    return this.management.setUserActive(id, active, options);
  }

  /** See {@link TykManagementApiClient.deleteUser}. */
  deleteUser(id: string): Promise<'deleted' | 'not_found'> {
    return this.management.deleteUser(id);
  }

  /** See {@link TykManagementApiClient.teamsWriteForm}. */
  teamsWriteForm(): TeamsWriteForm | null {
    return this.management.teamsWriteForm();
  }

  /** See {@link TykManagementApiClient.listOrganisations}. */
  listOrganisations(perPage = DEFAULT_PER_PAGE): Promise<PortalOrganisation[]> {
    return this.management.listOrganisations(perPage);
  }

  /** See {@link TykManagementApiClient.createOrganisation}. */
  createOrganisation(name: string): Promise<PortalOrganisation> {
    return this.management.createOrganisation(name);
  }

  /** See {@link TykManagementApiClient.getOrganisation}. */
  getOrganisation(id: string): Promise<PortalOrganisationDetail | null> {
    return this.management.getOrganisation(id);
  }

  /** See {@link TykManagementApiClient.listTeams}. */
  listTeams(orgId: string, perPage = DEFAULT_PER_PAGE): Promise<PortalTeam[]> {
    return this.management.listTeams(orgId, perPage);
  }

  /** See {@link TykManagementApiClient.createTeam}. */
  createTeam(orgId: string, name: string): Promise<PortalTeam> {
    return this.management.createTeam(orgId, name);
  }
}
