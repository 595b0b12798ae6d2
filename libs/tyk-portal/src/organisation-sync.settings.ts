import { isPlainObject, type ConsumerRole, type OrganisationSyncSettings } from '@app/common';

// The settings and their parser are in @app/common (the profiles lib refuses at save exactly
// what a login refuses); this file reads a profile's claims and mappings with them.

/** A map read by own property only, whatever its keys. */
export function ownValue<V>(map: Record<string, V> | null | undefined, key: string): V | undefined {
  return map && Object.hasOwn(map, key) ? map[key] : undefined;
}

/**
 * The portal role a developer's claims give them, or null when the profile manages no roles.
 * Every claim value that RoleMapping maps counts; when several map, the more privileged role
 * wins, so the answer does not depend on the order an IdP lists values in. Otherwise DefaultRole.
 */
export function readRole(
  claims: Record<string, unknown>,
  settings: Pick<OrganisationSyncSettings, 'roleClaim' | 'roleMapping' | 'defaultRole'>,
): ConsumerRole | null {
  if (settings.defaultRole === null) return null;
  if (settings.roleClaim === null || !Object.hasOwn(claims, settings.roleClaim)) return settings.defaultRole;
  const raw = claims[settings.roleClaim];
  const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string');
  const mapped = values.map((v) => ownValue(settings.roleMapping, v)).filter((r) => r !== undefined);
  if (mapped.length === 0) return settings.defaultRole;
  return mapped.includes('consumer-admin') ? 'consumer-admin' : 'consumer-team-member';
}

function claimValue(claims: Record<string, unknown>, name: string): string | null {
  let v: unknown = ownValue(claims, name);
  if (v === undefined && name.includes('.')) {
    // A nested claim, e.g. "organization.id".
    v = name.split('.').reduce<unknown>((cur, part) => (isPlainObject(cur) ? ownValue(cur, part) : undefined), claims);
  }
  if (typeof v === 'string') return v.trim() === '' ? null : v.trim();
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** The organisation id and name a developer's claims carry, per the profile's settings. */
export function readOrganisationClaims(
  claims: Record<string, unknown>,
  settings: Pick<OrganisationSyncSettings, 'idClaim' | 'nameClaim'>,
): { organisationId: string | null; organisationName: string | null } {
  return {
    organisationId: claimValue(claims, settings.idClaim),
    organisationName: claimValue(claims, settings.nameClaim),
  };
}
