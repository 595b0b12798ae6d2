/**
 * The Tyk portal client (SSO API, developers, `/portal-api` management API, Dashboard keys and
 * Gateway OAuth), TIB's four identity actions and organisation/team sync. Imports only
 * @app/common and @app/config; the broker binds the ports (TOKEN_CACHE, ORGANISATION_LINK_STORE)
 * to Postgres.
 */

/** The Nest module (`TykPortalModule.forRoot({ tokenCache, organisationLinkStore, onCall })`). */
export { TykPortalModule, type PortBinding, type TykPortalModuleOptions } from './tyk-portal.module.js';
/** Injection tokens of the ports and the metrics hook. */
export { ORGANISATION_LINK_STORE, TOKEN_CACHE, TYK_CALL_OBSERVER } from './tyk-portal.constants.js';

/**
 * HTTP clients for the portal, the Dashboard and the Gateway; failures are `portal_*` DomainErrors.
 * TykPortalClient is the one injectable over the three (SSO API, developer API, management API).
 */
export { DEFAULT_PER_PAGE, GO_ZERO_TIME, TykPortalClient } from './tyk-portal.client.js';
export { TykSsoApiClient } from './sso-api.client.js';
export { TykDeveloperApiClient } from './developer-api.client.js';
export {
  TykManagementApiClient,
  type SetUserActiveOptions,
  type SetUserActiveResult,
} from './management-api.client.js';
/** Wire shapes and the metrics event. */
export type {
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
  TykCallEvent,
  TykCallObserver,
  TykCallTarget,
} from './tyk-portal.types.js';

/** TIB's identity actions: `run(action, { identity, profile, portalTeamId? })` → redirect / json / empty. */
export { IdentityActionsService } from './identity-actions.service.js';
export {
  IDENTITY_ACTION_TYPES,
  type ActionIdentity,
  type ActionProfile,
  type IdentityActionInput,
  type IdentityActionResult,
  type IdentityActionType,
  type PortalLoginFacts,
} from './identity-actions.types.js';
/** Readers of TIB's IdentityHandlerConfig blocks (profile_invalid errors name the field). */
export {
  readDashboardCredential,
  readDisableOneTokenPerApi,
  readOAuthSettings,
  readTokenAuthSettings,
  type OAuthActionSettings,
  type TokenAuthSettings,
} from './identity-handler-config.js';
/** The Tyk session TIB posts for the token actions. */
export { buildTykSession, type TykSessionInput } from './tyk-session.js';

/** TIB's derived values (email, user id, display name, group ids, SSO key) and redirect endings. */
export {
  DEFAULT_SSO_EMAIL,
  appendNonce,
  appendTokenFragment,
  deriveDisplayName,
  deriveEmail,
  deriveGroupIds,
  deriveUserId,
  primaryGroupId,
  ssoKey,
  ssoKeyPathSegment,
  tokenCacheKey,
  type GroupIdRules,
  type RawClaims,
} from './derived-values.js';
/** Go-compatible encoders (json.Marshal escaping, url.QueryEscape). */
export { goJsonStringify, goQueryEscape } from './go-encoding.js';

/** The token cache port (TIB's `identity-cache.`) and its in-memory implementation. */
export { InMemoryTokenCache, type TokenCache, type TokenOwner } from './token-cache.js';

/** Organisation sync: the claim readers, the service and its link-store port (the settings and their parser: @app/common). */
export { readOrganisationClaims, readRole } from './organisation-sync.settings.js';
export {
  OrganisationSyncService,
  type OrganisationResolution,
  type OrganisationResolveInput,
  type PortalPlacement,
  type UserMoveResult,
  type UserReconcileResult,
  type UserTarget,
} from './organisation-sync.service.js';
/** Email → portal user id with bounded work per lookup (the management API has no email search). */
export {
  MISS_TTL_MS,
  PAGES_PER_LOOKUP,
  PortalUserDirectory,
  type DirectoryLookupOptions,
} from './portal-user-directory.js';
export {
  InMemoryOrganisationLinkStore,
  type CreatedOrganisation,
  type OrganisationCreateAttempt,
  type OrganisationLink,
  type OrganisationLinkStore,
} from './organisation-link-store.js';
