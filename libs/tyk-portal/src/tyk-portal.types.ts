/** Shapes exchanged with the portal, the Dashboard and the Gateway. */

/** TIB's `SSOAccessData`, the body of `POST /api/sso` (sent in this field order). */
export interface SsoRequest {
  /** `portal` for developers (GenerateOrLoginDeveloperProfile), `dashboard` for admins. */
  ForSection: 'portal' | 'dashboard';
  OrgID: string;
  EmailAddress: string;
  DisplayName: string;
  /** The first of GroupsIDs, or "" (a portal team id for the Enterprise Portal). */
  GroupID: string;
  GroupsIDs: string[];
  SSOOnlyForRegisteredUsers: boolean;
}

/**
 * TIB's `PortalDeveloper` as it goes on the wire (`/api/portal/developers*`), in TIB's field
 * order. TIB's random password is never serialised, so it is not here either.
 */
export interface PortalDeveloper {
  /** Opaque (a 24-hex string on the portal, E5). */
  id: string;
  email: string;
  date_created: string;
  inactive: boolean;
  org_id: string;
  /** `null` when the portal sent none (a nil Go map), `{}` on create. */
  keys: Record<string, unknown> | null;
  subscriptions: Record<string, unknown> | null;
  fields: Record<string, unknown> | null;
  nonce: string;
  sso_key: string;
  /**
   * The developer's OAuth client registrations (TIB: `oauth_clients,omitempty`), kept opaque and
   * sent back as received, so a portal that replaces the whole record keeps them. Absent: null.
   */
  oauth_clients?: Record<string, unknown> | null;
  password_max_days: number;
  password_updated: string;
  PWHistory: unknown[] | null;
  last_login_date: string;
}

/** What the broker supplies to create a developer; the rest of the body is TIB's zero values. */
export interface NewPortalDeveloper {
  /** TIB sends the IdP's standard email here, not the CustomEmailField value. */
  email: string;
  orgId: string;
  nonce: string;
  ssoKey: string;
  /** Defaults to now. */
  dateCreated?: Date;
}

/** A team as the management API lists it (`GET /portal-api/organisations/{org}/teams`). */
export interface PortalTeam {
  ID: string;
  Name: string;
  Default: boolean;
}

/** An organisation as the management API lists it. */
export interface PortalOrganisation {
  ID: string;
  Name: string;
}

/** `Organisation-show`: an organisation with its teams. */
export interface PortalOrganisationDetail extends PortalOrganisation {
  Teams: PortalTeam[];
}

/**
 * A portal user (`User-show` / `User-index-elem`), normalised: ids are strings. `Teams` is what
 * the portal lists for the user, as strings: the OpenAPI says `Team-show` objects (their `ID` is
 * taken) while its item type is string, which a portal may fill with team names; compare with
 * both a team's ID and its Name. The list view (`GET /users`) has no teams at all.
 */
export interface PortalUser {
  ID: string;
  Email: string;
  First: string;
  Last: string;
  Role: string;
  OrganisationID: string;
  Active: boolean;
  Provider: string;
  Teams: string[];
}

/** `User-update`: the fields the broker sends on `PUT /portal-api/users/{id}`. */
export interface PortalUserUpdate {
  Email: string;
  First: string;
  Last: string;
  Role: string;
  OrganisationID: string;
  Active: boolean;
  Provider: string;
  Teams: string[];
}

/** The Gateway's answer to `authorize-client` (TIB's `OAuthResponse`, in its field order). */
export interface OAuthTokenResponse {
  access_token: string;
  expires_in: number;
  redirect_to: string;
  token_type: string;
}

/** What the Gateway authorize-client call needs (TIB's OAuth settings plus the session). */
export interface OAuthAuthorizeRequest {
  listenPath: string;
  responseType: string;
  clientId: string;
  redirectUri: string;
  /** The Tyk session (key rules), already in TIB's field order. */
  keyRules: Record<string, unknown>;
}

/** Which system a call went to: the management API, the Dashboard-compatible API, the Gateway. */
export type TykCallTarget = 'portal' | 'dashboard' | 'gateway';

/** One HTTP exchange with Tyk, reported to the observer (for metrics). */
export interface TykCallEvent {
  target: TykCallTarget;
  /** The route template, e.g. `/api/portal/developers/ssokey/:key` (never a real key or id). */
  endpoint: string;
  method: string;
  /** The HTTP status, or `error` when no response came (refused, reset, timeout). */
  status: number | 'error';
  ms: number;
  /** 1 for the first try, 2 for the first retry, ... */
  attempt: number;
}

/** Receives every call's outcome; the broker wires it to Prometheus. Must not throw. */
export type TykCallObserver = (event: TykCallEvent) => void;
