import { EmulatorError, type EmulatorErrorKind } from './emulator.state.js';

/**
 * Request bodies and fixed answers shared by the Nest controllers and the lean routes
 * (lean-routes.ts), so both decode and word things the same way.
 */

/** The Dashboard surface (`/api`) words a body it cannot decode like this. */
export const DASHBOARD_MALFORMED = 'Request body malformed.';
/** The Management API (`/portal-api`) and the control routes word it like this. */
export const PORTAL_API_MALFORMED = 'Request body malformed';

/** TIB's `SSOAccessData` (specs/tib.md §5.1). */
export const SSO_REQUEST = {
  ForSection: 'string',
  OrgID: 'string',
  EmailAddress: 'string',
  DisplayName: 'string',
  GroupID: 'string',
  GroupsIDs: 'strings',
  SSOOnlyForRegisteredUsers: 'bool',
} as const;

/** TIB's `PortalDeveloper` (specs/tib.md §5.2 step 4). */
export const PORTAL_DEVELOPER = {
  id: 'string',
  email: 'string',
  date_created: 'string',
  inactive: 'bool',
  org_id: 'string',
  keys: 'object',
  subscriptions: 'object',
  fields: 'object',
  nonce: 'string',
  sso_key: 'string',
  password_max_days: 'int',
  password_updated: 'string',
  last_login_date: 'string',
  PWHistory: 'any',
} as const;

/** `User-create` (EDP OpenAPI v1.14.0). */
export const USER_CREATE = {
  Email: 'string',
  First: 'string',
  Last: 'string',
  Role: 'string',
  OrganisationID: 'int',
  Active: 'bool',
  Provider: 'string',
  ResetPassword: 'bool',
} as const;

/** `User-update`: User-create plus `Teams`, whose items every version of the spec types as strings (E1). */
export const USER_UPDATE = { ...USER_CREATE, Teams: 'strings' } as const;
export const ORGANISATION = { Name: 'string' } as const;
export const TEAM_UPDATE = { Name: 'string', Users: 'ints' } as const;

/** The `POST /api/sso` success answer around the nonce. */
export function nonceCreated(nonce: string) {
  return { Status: 'OK', Message: 'SSO Nonce created.', Meta: nonce };
}

/** Path ids are integers; anything else cannot name a resource. */
export function idOf(raw: string, kind: EmulatorErrorKind, what: string): number {
  if (!/^\d+$/.test(raw)) throw new EmulatorError(kind, `${what} not found`);
  return Number(raw);
}
