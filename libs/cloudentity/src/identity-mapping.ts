import { DomainError, safeText, unsafeTextReason } from '@app/common';
import type { IdentityMappingSettings, MappedIdentity } from './oidc-settings.js';

type Claims = Record<string, unknown>;

/** A claim as a non-empty string (numbers are accepted for ids and printed as TIB would). */
function claimString(claims: Claims, field: string, allowNumber = false): string | undefined {
  if (field === '') return undefined;
  const value = claims[field];
  if (typeof value === 'string' && value !== '') return value;
  if (allowNumber && typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * The longest identifier claims the broker keeps (the developers table's columns): longer, or
 * holding text Postgres cannot store (NUL, an unpaired surrogate), and the login is refused with a
 * code instead of failing in the database. Names are only shown, so they are repaired instead.
 */
export const CLAIM_LIMITS = { email: 320, userId: 255, organisationId: 200 } as const;

function identifier(value: string | undefined, what: string, max: number, code: 'email_missing' | 'id_token_invalid') {
  if (value === undefined) return undefined;
  const problem = unsafeTextReason(value) ?? (value.length > max ? `is longer than ${max} characters` : null);
  if (problem) {
    throw new DomainError(code, `The identity provider sent a ${what} the broker cannot store: it ${problem}`);
  }
  return value;
}

const shown = (value: string | undefined) => (value === undefined ? undefined : safeText(value));

/** Some IdPs (e.g. Cognito) send booleans as strings. */
function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/;

/**
 * `ProviderConstraints.Domain`. TIB checks a plain string suffix, so `example.com` also lets in
 * `bob@evilexample.com`; we match the email's domain exactly or as a subdomain (`@example.com`
 * pins the exact domain). Case-insensitive, as domains are.
 */
function domainAllowed(email: string, constraint: string): boolean {
  const wanted = constraint.trim().toLowerCase();
  if (wanted === '') return true;
  const emailDomain = email.slice(email.lastIndexOf('@') + 1).toLowerCase();
  if (wanted.startsWith('@')) return emailDomain === wanted.slice(1);
  return emailDomain === wanted || emailDomain.endsWith(`.${wanted}`);
}

function groupIds(claims: Claims, settings: IdentityMappingSettings): string[] {
  const fallback = settings.defaultUserGroupId === '' ? [] : [settings.defaultUserGroupId];
  if (settings.customUserGroupField === '') return fallback;
  const raw = claims[settings.customUserGroupField];
  let names: string[];
  if (Array.isArray(raw)) {
    names = raw
      .map((item: unknown) => (typeof item === 'number' && Number.isFinite(item) ? String(item) : item))
      .filter((item): item is string => typeof item === 'string');
  } else if (typeof raw === 'string') {
    names = raw.split(settings.userGroupSeparator === '' ? ' ' : settings.userGroupSeparator);
  } else {
    return fallback;
  }
  const mapping = settings.userGroupMapping ?? {};
  const mapped = names
    .filter((name) => name !== '' && Object.hasOwn(mapping, name))
    .map((name) => mapping[name])
    .filter((id) => typeof id === 'string' && id !== '');
  return mapped.length > 0 ? mapped : fallback;
}

/**
 * Turns verified claims into the identity the portal action needs, with TIB's `CreateIdentity`
 * semantics (tib.md §5 "Derived values") and these deliberate differences:
 * - no email claim fails with `email_missing` (TIB invents `ssoSession@ssoSession.com`);
 * - the email must be vouched for (`email_verified` true for the `email` claim) unless
 *   `allowUnverifiedEmail`: the portal links accounts by email, so an unverified address is an
 *   account takeover. A custom email field that differs from `email` is not covered by
 *   `email_verified` and counts as unverified;
 * - the domain constraint matches the email's domain, not any string suffix (`domain_not_allowed`).
 *
 * Display name, groups, group id and SSO key follow TIB exactly. Pure: no I/O.
 */
export function mapIdentity(claims: Claims, settings: IdentityMappingSettings): MappedIdentity {
  const standardEmail = claimString(claims, 'email');
  const email = identifier(
    claimString(claims, settings.customEmailField) ?? standardEmail,
    'email address',
    CLAIM_LIMITS.email,
    'email_missing',
  );
  if (email === undefined) {
    throw new DomainError('email_missing', 'The identity provider sent no email address for this user');
  }
  if (!EMAIL_SHAPE.test(email)) {
    throw new DomainError('email_missing', 'The identity provider sent an email claim that is not an email address');
  }
  const emailVerified = email === standardEmail && isTrue(claims.email_verified);
  if (!emailVerified && !settings.allowUnverifiedEmail) {
    // A TIB profile with CustomEmailField fails here on every login: say which setting decides.
    const fromCustomField = settings.customEmailField !== '' && email !== standardEmail;
    throw new DomainError(
      'email_unverified',
      fromCustomField
        ? `The email comes from the custom claim ${settings.customEmailField} (CustomEmailField), which email_verified does not cover`
        : 'The identity provider does not vouch for this email address',
      fromCustomField ? { customEmailField: settings.customEmailField } : undefined,
    );
  }
  if (!domainAllowed(email, settings.domain)) {
    throw new DomainError('domain_not_allowed', 'This email domain may not sign in through this profile');
  }

  identifier(claimString(claims, 'sub', true), 'subject', CLAIM_LIMITS.userId, 'id_token_invalid');
  const userId = identifier(
    claimString(claims, settings.customUserIdField, true) ?? claimString(claims, 'sub', true),
    'user id',
    CLAIM_LIMITS.userId,
    'id_token_invalid',
  );
  if (userId === undefined) {
    throw new DomainError('id_token_invalid', 'The identity has no subject');
  }

  const firstName = shown(claimString(claims, 'given_name')) ?? '';
  const lastName = shown(claimString(claims, 'family_name')) ?? '';
  // TIB: FirstName + " " + LastName, trimmed to the parts that exist, else the email.
  const displayName = `${firstName} ${lastName}`.trim() || email;

  const groups = groupIds(claims, settings);
  const organisationId =
    identifier(
      claimString(claims, settings.organisationClaim || 'organization_id', true),
      'organisation id',
      CLAIM_LIMITS.organisationId,
      'id_token_invalid',
    ) ?? null;
  // " acme" and "acme" are two organisations to the IdP; trimmed in one place and kept in another
  // they would share a portal organisation and team while the broker records them apart. Such an
  // id is refused, so the id the broker stores, audits and syncs is exactly the claim.
  if (organisationId !== null && organisationId !== organisationId.trim()) {
    throw new DomainError(
      'id_token_invalid',
      'The identity provider sent an organisation id with leading or trailing whitespace',
    );
  }
  const organisationName = shown(claimString(claims, settings.organisationNameClaim || 'organization_name')) ?? null;

  return {
    email,
    emailVerified,
    userId,
    displayName,
    firstName,
    lastName,
    groupIds: groups,
    groupId: groups[0] ?? '',
    organisationId,
    organisationName,
    ssoKey: `${userId}@${settings.provider}.com`,
  };
}
