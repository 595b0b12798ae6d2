/**
 * The values TIB derives from a signed-in user before it calls Tyk (TIB `CreateIdentity`,
 * `GetEmail`, `GetUserID`, `GetGroupId`, `tap.GenerateSSOKey`), kept as pure functions so the
 * broker maps an identity exactly as TIB would, plus the redirect endings of the four actions.
 */
import { goQueryEscape } from './go-encoding.js';

/** TIB's fallback email when the IdP gave none (`DefaultSSOEmail`). */
export const DEFAULT_SSO_EMAIL = 'ssoSession@ssoSession.com';

/** The profile fields that decide the group (portal team) ids sent to `/api/sso`. */
export interface GroupIdRules {
  CustomUserGroupField: string;
  DefaultUserGroupID: string;
  UserGroupMapping: Record<string, string> | null;
  /** Separator for a string claim; TIB's default is a single space. */
  UserGroupSeparator: string;
}

/** Raw claims (TIB's `goth.User.RawData`): the merged ID-token and userinfo claims. */
export type RawClaims = Record<string, unknown>;

function defaultOrEmpty(defaultGroup: string): string[] {
  return defaultGroup === '' ? [] : [defaultGroup];
}

/**
 * TIB's `GetGroupId`: the claim named by `CustomUserGroupField` (an array item by item, a string
 * split on `UserGroupSeparator`), each entry mapped through `UserGroupMapping`, unmapped entries
 * dropped; `[DefaultUserGroupID]` (or `[]`) when there is no field, no claim or no match.
 * Always an array. Where Go would panic (a non-string array item, an object claim) the odd value
 * is skipped instead.
 */
export function deriveGroupIds(claims: RawClaims, rules: GroupIdRules): string[] {
  if (rules.CustomUserGroupField === '') return defaultOrEmpty(rules.DefaultUserGroupID);
  const raw = claims[rules.CustomUserGroupField];
  if (raw === undefined || raw === null) return defaultOrEmpty(rules.DefaultUserGroupID);
  let groups: string[];
  if (Array.isArray(raw)) {
    groups = raw.filter((g): g is string => typeof g === 'string');
  } else if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') {
    groups = String(raw).split(rules.UserGroupSeparator === '' ? ' ' : rules.UserGroupSeparator);
  } else {
    groups = [];
  }
  const mapping = rules.UserGroupMapping ?? {};
  const ids = groups.filter((g) => Object.prototype.hasOwnProperty.call(mapping, g)).map((g) => mapping[g]);
  return ids.length === 0 ? defaultOrEmpty(rules.DefaultUserGroupID) : ids;
}

/** TIB's `GroupID`: the first of `GroupsIDs`, or `""`. */
export function primaryGroupId(groupIds: readonly string[]): string {
  return groupIds.length > 0 ? groupIds[0] : '';
}

/**
 * TIB's `GetEmail`: the `CustomEmailField` claim when it is a non-empty string, else the IdP's
 * standard email, else `ssoSession@ssoSession.com`.
 */
export function deriveEmail(claims: RawClaims, standardEmail: string, customEmailField: string): string {
  if (customEmailField !== '') {
    const custom = claims[customEmailField];
    if (typeof custom === 'string' && custom !== '') return custom;
  }
  return standardEmail !== '' ? standardEmail : DEFAULT_SSO_EMAIL;
}

/** TIB's `GetUserID`: the `CustomUserIDField` claim when present (and a string), else the subject. */
export function deriveUserId(claims: RawClaims, subject: string, customUserIdField: string): string {
  if (customUserIdField !== '') {
    const custom = claims[customUserIdField];
    if (typeof custom === 'string') return custom;
    if (typeof custom === 'number') return String(custom);
  }
  return subject;
}

/** TIB's display name: `"First Last"` with whichever parts exist, else the email. */
export function deriveDisplayName(firstName: string, lastName: string, email: string): string {
  const name = [firstName, lastName].filter((p) => p !== '').join(' ');
  return name !== '' ? name : email;
}

/** TIB's `tap.GenerateSSOKey`: `<userId>@<provider>.com`, e.g. `00u1ab@openid-connect.com`. */
export function ssoKey(userId: string, provider: string): string {
  return `${userId}@${provider}.com`;
}

/** The portal path segment for an SSO key, escaped as TIB does (Go `url.QueryEscape`). */
export function ssoKeyPathSegment(key: string): string {
  return goQueryEscape(key);
}

/**
 * TIB's identity-cache key (`identity-cache.` + `{profile.ID}-{ssoKey}`), where the two token
 * actions build the SSO key from the IdP's raw user id.
 */
export function tokenCacheKey(profileId: string, key: string): string {
  return `identity-cache.${profileId}-${key}`;
}

function splitFragment(url: string): { base: string; fragment: string } {
  const hash = url.indexOf('#');
  return hash < 0 ? { base: url, fragment: '' } : { base: url.slice(0, hash), fragment: url.slice(hash) };
}

/**
 * `ReturnURL` with `nonce=<nonce>` added as a query parameter. TIB concatenates
 * `ReturnURL + "?nonce=" + nonce`, which breaks a ReturnURL that already has a query or a
 * fragment; here the nonce is URL-encoded, joined with `?` or `&` as needed, and any `#fragment`
 * stays at the end. For a plain ReturnURL and a URL-safe nonce the result equals TIB's.
 */
export function appendNonce(returnUrl: string, nonce: string): string {
  const { base, fragment } = splitFragment(returnUrl);
  let sep = '?';
  if (base.includes('?')) {
    sep = base.endsWith('?') || base.endsWith('&') ? '' : '&';
  }
  return `${base}${sep}nonce=${encodeURIComponent(nonce)}${fragment}`;
}

/**
 * `ReturnURL#token=<key>` as TIB builds it for GenerateTemporaryAuthToken. The key is escaped only
 * where a fragment needs it (`=`, `+`, `/` and `:` stay as they are, so Tyk's base64 key ids come
 * out as TIB sends them); an existing fragment is kept and the token added with `&`.
 */
export function appendTokenFragment(returnUrl: string, token: string): string {
  const { base, fragment } = splitFragment(returnUrl);
  const value = encodeURIComponent(token).replace(/%(3D|2B|2F|3A|40)/g, (m) => decodeURIComponent(m));
  if (fragment === '' || fragment === '#') return `${base}#token=${value}`;
  return `${base}${fragment}&token=${value}`;
}
