import { DomainError, getCaseInsensitive, isPlainObject } from '@app/common';

/** The portal roles the broker may give a developer (consumer roles only: never an admin role). */
export const CONSUMER_ROLES = ['consumer-admin', 'consumer-team-member'] as const;
export type ConsumerRole = (typeof CONSUMER_ROLES)[number];
/** Least privilege when a profile manages roles but the claim says nothing mapped (E6). */
export const DEFAULT_DEVELOPER_ROLE: ConsumerRole = 'consumer-team-member';

/**
 * A profile's organisation sync settings, from `IdentityHandlerConfig.OrganisationSync`:
 * `{ "Enabled": true, "IdClaim": "organization_id", "NameClaim": "organization_name",
 *    "TeamMapping": { "<cloudentity org id>": "<portal team id>" },
 *    "RoleClaim": "roles", "RoleMapping": { "org-admin": "consumer-admin" },
 *    "DefaultRole": "consumer-team-member" }`.
 * The maps come from claims and profile JSON, so they have no prototype and are read by own
 * property only (an organisation id of `constructor` or `__proto__` is just an unmapped id).
 */
export interface OrganisationSyncSettings {
  enabled: boolean;
  /** Claim holding the Cloudentity organisation id. */
  idClaim: string;
  /** Claim holding its display name (names a newly created portal organisation). */
  nameClaim: string;
  /** Cloudentity organisation id → portal team id; wins over remembered links. Null prototype. */
  teamMapping: Record<string, string>;
  /** Claim holding the developer's role (a string or an array of strings); null when not set. */
  roleClaim: string | null;
  /** Role claim value → portal role. Null prototype. */
  roleMapping: Record<string, ConsumerRole>;
  /**
   * The role for an absent or unmapped claim. Null when the profile manages no roles (neither
   * RoleClaim nor DefaultRole set): the broker then leaves portal roles alone.
   */
  defaultRole: ConsumerRole | null;
}

/** A map read by own property only, whatever its keys. */
export function ownValue<V>(map: Record<string, V> | null | undefined, key: string): V | undefined {
  return map && Object.hasOwn(map, key) ? map[key] : undefined;
}

const emptyMap = <V>(): Record<string, V> => Object.create(null) as Record<string, V>;

export const DEFAULT_ORGANISATION_SYNC: Readonly<OrganisationSyncSettings> = Object.freeze({
  enabled: false,
  idClaim: 'organization_id',
  nameClaim: 'organization_name',
  teamMapping: Object.freeze(emptyMap<string>()),
  roleClaim: null,
  roleMapping: Object.freeze(emptyMap<ConsumerRole>()),
  defaultRole: null,
});

const defaults = (): OrganisationSyncSettings => ({
  ...DEFAULT_ORGANISATION_SYNC,
  teamMapping: emptyMap(),
  roleMapping: emptyMap(),
});

function consumerRole(field: string, v: unknown): ConsumerRole {
  if (typeof v === 'string' && (CONSUMER_ROLES as readonly string[]).includes(v.trim())) {
    return v.trim() as ConsumerRole;
  }
  throw invalid(field, `expected one of ${CONSUMER_ROLES.join(', ')}`, v);
}

const BASE = 'IdentityHandlerConfig.OrganisationSync';

function invalid(field: string, problem: string, got: unknown): DomainError {
  return new DomainError('validation_failed', `${field}: ${problem}, got ${JSON.stringify(got) ?? 'undefined'}`, {
    field,
  });
}

function claimName(obj: Record<string, unknown>, key: string, fallback: string): string {
  const v = getCaseInsensitive(obj, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || v.trim() === '') throw invalid(`${BASE}.${key}`, 'expected a non-empty claim name', v);
  return v.trim();
}

/**
 * Reads `OrganisationSync` from a profile's IdentityHandlerConfig (keys in any case, as Go's JSON
 * decoding matches them; the American `OrganizationSync` is accepted too). Absent → disabled with
 * the default claim names. Throws DomainError('validation_failed') naming the offending field.
 */
export function parseOrganisationSyncSettings(identityHandlerConfig: unknown): OrganisationSyncSettings {
  if (identityHandlerConfig === undefined || identityHandlerConfig === null) return defaults();
  if (!isPlainObject(identityHandlerConfig)) {
    throw invalid('IdentityHandlerConfig', 'expected an object', identityHandlerConfig);
  }
  let raw = getCaseInsensitive(identityHandlerConfig, 'OrganisationSync');
  if (raw === undefined) raw = getCaseInsensitive(identityHandlerConfig, 'OrganizationSync');
  if (raw === undefined || raw === null) return defaults();
  if (!isPlainObject(raw)) throw invalid(BASE, 'expected an object', raw);

  const enabledRaw = getCaseInsensitive(raw, 'Enabled');
  if (enabledRaw !== undefined && enabledRaw !== null && typeof enabledRaw !== 'boolean') {
    throw invalid(`${BASE}.Enabled`, 'expected true or false', enabledRaw);
  }

  const mappingRaw = getCaseInsensitive(raw, 'TeamMapping');
  const teamMapping = emptyMap<string>();
  if (mappingRaw !== undefined && mappingRaw !== null) {
    if (!isPlainObject(mappingRaw)) throw invalid(`${BASE}.TeamMapping`, 'expected an object', mappingRaw);
    for (const [orgId, teamId] of Object.entries(mappingRaw)) {
      const field = `${BASE}.TeamMapping.${orgId}`;
      if (orgId.trim() === '') throw invalid(`${BASE}.TeamMapping`, 'expected non-empty organisation ids', orgId);
      if (typeof teamId === 'string' && teamId.trim() !== '') {
        teamMapping[orgId] = teamId.trim();
      } else if (typeof teamId === 'number' && Number.isInteger(teamId) && teamId >= 0) {
        teamMapping[orgId] = String(teamId);
      } else {
        throw invalid(field, 'expected a portal team id', teamId);
      }
    }
  }

  const roleClaimRaw = getCaseInsensitive(raw, 'RoleClaim');
  const roleClaim =
    roleClaimRaw === undefined || roleClaimRaw === null || roleClaimRaw === '' ? null : claimName(raw, 'RoleClaim', '');
  const roleMapping = emptyMap<ConsumerRole>();
  const roleMappingRaw = getCaseInsensitive(raw, 'RoleMapping');
  if (roleMappingRaw !== undefined && roleMappingRaw !== null) {
    if (!isPlainObject(roleMappingRaw)) throw invalid(`${BASE}.RoleMapping`, 'expected an object', roleMappingRaw);
    for (const [value, role] of Object.entries(roleMappingRaw)) {
      roleMapping[value] = consumerRole(`${BASE}.RoleMapping.${value}`, role);
    }
  }
  const defaultRoleRaw = getCaseInsensitive(raw, 'DefaultRole');
  const explicitDefault =
    defaultRoleRaw === undefined || defaultRoleRaw === null || defaultRoleRaw === ''
      ? null
      : consumerRole(`${BASE}.DefaultRole`, defaultRoleRaw);

  return {
    enabled: enabledRaw === true,
    idClaim: claimName(raw, 'IdClaim', DEFAULT_ORGANISATION_SYNC.idClaim),
    nameClaim: claimName(raw, 'NameClaim', DEFAULT_ORGANISATION_SYNC.nameClaim),
    teamMapping,
    roleClaim,
    roleMapping,
    defaultRole: explicitDefault ?? (roleClaim !== null ? DEFAULT_DEVELOPER_ROLE : null),
  };
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
