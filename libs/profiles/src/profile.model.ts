/**
 * The TIB profile (tap/profile.go), field for field and in TIB's order. Output always carries
 * every field with TIB's casing; absent objects and maps are null, as Go serialises them.
 */
export const ACTION_TYPES = [
  'GenerateOrLoginUserProfile',
  'GenerateOrLoginDeveloperProfile',
  'GenerateOAuthTokenForClient',
  'GenerateTemporaryAuthToken',
] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export const PROVIDER_NAMES = ['SocialProvider', 'ADProvider', 'ProxyProvider', 'SAMLProvider'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export interface TibProfile {
  ID: string;
  Name: string;
  OrgID: string;
  ActionType: ActionType;
  MatchedPolicyID: string;
  Type: string;
  ProviderName: ProviderName;
  CustomEmailField: string;
  CustomUserIDField: string;
  ProviderConfig: unknown;
  IdentityHandlerConfig: Record<string, unknown> | null;
  ProviderConstraints: { Domain: string; Group: string };
  ReturnURL: string;
  DefaultUserGroupID: string;
  CustomUserGroupField: string;
  UserGroupMapping: Record<string, string> | null;
  UserGroupSeparator: string;
  SSOOnlyForRegisteredUsers: boolean;
}

/** A profile as stored: the document plus its optimistic-locking version. */
export interface StoredProfile {
  profile: TibProfile;
  version: number;
  updatedAt: Date;
}

/** One `UseProviders` entry of a SocialProvider profile, in canonical casing. */
export interface SocialProviderEntry {
  Name: string;
  Key: string;
  Secret: string;
  DiscoverURL: string;
  Scopes: string[] | null;
  SkipUserInfoRequest: boolean;
  /** Broker extension: force `client_secret_basic` or `client_secret_post` (default: from discovery). */
  TokenEndpointAuthMethod?: string;
}
