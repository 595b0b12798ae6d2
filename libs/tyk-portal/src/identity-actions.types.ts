/** The four TIB actions (`ActionType` of a profile). */
export const IDENTITY_ACTION_TYPES = [
  'GenerateOrLoginUserProfile',
  'GenerateOrLoginDeveloperProfile',
  'GenerateOAuthTokenForClient',
  'GenerateTemporaryAuthToken',
] as const;

export type IdentityActionType = (typeof IDENTITY_ACTION_TYPES)[number];

/** The signed-in user, mapped as TIB maps it (see the derive* helpers). */
export interface ActionIdentity {
  /** TIB's email: the CustomEmailField claim, else the IdP email, else `ssoSession@ssoSession.com`. */
  email: string;
  /**
   * The IdP's standard `email` claim (TIB's `user.Email`), which TIB writes on a new developer
   * instead of the CustomEmailField value. Unchecked: the broker writes it only when it equals
   * `email` ignoring case (else `email`), and never looks anything up by it. Defaults to `email`.
   */
  rawEmail?: string;
  /** TIB's user id for the portal SSO key: the CustomUserIDField claim, else the subject. */
  userId: string;
  /** The IdP's own user id (`sub`); the token actions key their cache on it. Defaults to `userId`. */
  subject?: string;
  /** `"First Last"`, else the email. */
  displayName: string;
  /** TIB's GroupsIDs (portal team ids / Dashboard user-group ids); may be empty. */
  groupIds: string[];
  /** The provider name in the SSO key, `openid-connect` for OIDC. */
  provider: string;
  /** The IdP access token, which TIB copies into a Tyk key's `meta_data.AccessToken`. */
  accessToken?: string;
  /** The developer's Cloudentity organisation, when the claims carry one. */
  organisation?: { id: string; name?: string | null } | null;
}

/** The profile fields the actions read (the broker maps its profile to this). */
export interface ActionProfile {
  ID: string;
  ActionType: string;
  OrgID: string;
  ReturnURL: string;
  IdentityHandlerConfig: Record<string, unknown> | null;
  SSOOnlyForRegisteredUsers: boolean;
  MatchedPolicyID: string;
}

export interface IdentityActionInput {
  identity: ActionIdentity;
  profile: ActionProfile;
  /**
   * The team organisation sync resolved. When set it is sent as `GroupID` and `GroupsIDs: [id]`
   * instead of the identity's group ids, so a new developer lands in it.
   */
  portalTeamId?: string | null;
  /**
   * The caller's id for this developer (the broker's developer id): the token actions store the
   * issued token under it, so that erasing the developer removes it.
   */
  developerId?: string | null;
}

/** Facts about the portal side of a developer login, for the caller's records and audit. */
export interface PortalLoginFacts {
  ssoKey: string;
  /** The portal developer id when the developer existed (TIB's create answer carries none). */
  developerId: string | null;
  developerCreated: boolean;
  /** The email of the portal account signed in (the one the portal knows: found, or sent to create it). */
  portalEmail: string;
}

/**
 * How the login answer ends. `location` and `body` carry a nonce or a token: the caller must not
 * log them. TIB answers 301 for every redirect; the broker answers 302 (a 301 is cached by
 * browsers, which would replay a spent nonce).
 */
export type IdentityActionResult =
  | { kind: 'redirect'; status: 302; location: string; portal?: PortalLoginFacts }
  | { kind: 'json'; status: 200; body: Record<string, unknown> }
  /** GenerateOAuthTokenForClient without NoRedirect when the Gateway gave no `redirect_to` (TIB: empty 200). */
  | { kind: 'empty'; status: 200 };
