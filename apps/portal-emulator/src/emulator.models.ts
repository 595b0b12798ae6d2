/** The records of the emulated portal (users, organisations, teams, developers, nonces, sessions) and the inputs that change them. */

export interface Organisation {
  ID: number;
  Name: string;
  CreatedAt: Date;
  UpdatedAt: Date;
}

export interface Team {
  ID: number;
  Name: string;
  OrganisationID: number;
  Default: boolean;
  CreatedAt: Date;
  UpdatedAt: Date;
}

/** A portal user. Team membership lives here only (`Teams`); team views derive from it. */
export interface User {
  ID: number;
  Email: string;
  First: string;
  Last: string;
  Role: string;
  OrganisationID: number;
  Active: boolean;
  Provider: string;
  ResetPassword: boolean;
  Teams: number[];
  JWTToken: string;
  APITokenCreatedAt: string;
  CreatedAt: Date;
  UpdatedAt: Date;
}

/** The Dashboard-compatible developer view of a user (only users that came through the SSO API have one). */
export interface Developer {
  /** The developer API's own id: 24 hex digits, as TIB decodes it (a Mongo ObjectID, E5). */
  id: string;
  userId: number;
  ssoKey: string;
  dateCreated: string;
  keys: Record<string, unknown>;
  subscriptions: Record<string, unknown>;
  fields: Record<string, unknown>;
}

export type SsoSection = 'portal' | 'dashboard';

export interface Nonce {
  value: string;
  forSection: SsoSection;
  orgId: string;
  email: string;
  displayName: string;
  groupId: string;
  groupIds: string[];
  ssoOnlyForRegisteredUsers: boolean;
  createdAt: number;
  expiresAt: number;
  /** Set when `/sso` consumed it (single use). */
  usedAt?: number;
  /** Set when the developer endpoints tied the nonce to an account. */
  userId?: number;
}

export interface Session {
  id: string;
  userId: number;
  createdAt: number;
}

export interface SsoRequest {
  ForSection?: string;
  OrgID?: string;
  EmailAddress?: string;
  DisplayName?: string;
  GroupID?: string;
  GroupsIDs?: string[];
  SSOOnlyForRegisteredUsers?: boolean;
}

export interface UserInput {
  Email?: string;
  First?: string;
  Last?: string;
  Role?: string;
  OrganisationID?: number;
  Active?: boolean;
  Provider?: string;
  ResetPassword?: boolean;
  /** Strings only (E1): ids or names, per the portal contract's `teamsWrite`. */
  Teams?: string[];
}

export interface DeveloperInput {
  email?: string;
  nonce?: string;
  sso_key?: string;
  inactive?: boolean;
  keys?: Record<string, unknown>;
  subscriptions?: Record<string, unknown>;
  fields?: Record<string, unknown>;
}

export interface TeamInput {
  Name?: string;
  Users?: number[];
}
