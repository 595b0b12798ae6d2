import { DomainError, getCaseInsensitive, isPlainObject } from '@app/common';

/**
 * A profile's organisation sync settings, from `IdentityHandlerConfig.OrganisationSync`:
 * `{ "Enabled": true, "IdClaim": "organization_id", "NameClaim": "organization_name",
 *    "TeamMapping": { "<cloudentity org id>": "<portal team id>" } }`.
 */
export interface OrganisationSyncSettings {
  enabled: boolean;
  /** Claim holding the Cloudentity organisation id. */
  idClaim: string;
  /** Claim holding its display name (names a newly created portal organisation). */
  nameClaim: string;
  /** Cloudentity organisation id → portal team id; wins over remembered links. */
  teamMapping: Record<string, string>;
}

export const DEFAULT_ORGANISATION_SYNC: Readonly<OrganisationSyncSettings> = Object.freeze({
  enabled: false,
  idClaim: 'organization_id',
  nameClaim: 'organization_name',
  teamMapping: {},
});

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
  if (identityHandlerConfig === undefined || identityHandlerConfig === null) {
    return { ...DEFAULT_ORGANISATION_SYNC, teamMapping: {} };
  }
  if (!isPlainObject(identityHandlerConfig)) {
    throw invalid('IdentityHandlerConfig', 'expected an object', identityHandlerConfig);
  }
  let raw = getCaseInsensitive(identityHandlerConfig, 'OrganisationSync');
  if (raw === undefined) raw = getCaseInsensitive(identityHandlerConfig, 'OrganizationSync');
  if (raw === undefined || raw === null) return { ...DEFAULT_ORGANISATION_SYNC, teamMapping: {} };
  if (!isPlainObject(raw)) throw invalid(BASE, 'expected an object', raw);

  const enabledRaw = getCaseInsensitive(raw, 'Enabled');
  if (enabledRaw !== undefined && enabledRaw !== null && typeof enabledRaw !== 'boolean') {
    throw invalid(`${BASE}.Enabled`, 'expected true or false', enabledRaw);
  }

  const mappingRaw = getCaseInsensitive(raw, 'TeamMapping');
  const teamMapping: Record<string, string> = {};
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

  return {
    enabled: enabledRaw === true,
    idClaim: claimName(raw, 'IdClaim', DEFAULT_ORGANISATION_SYNC.idClaim),
    nameClaim: claimName(raw, 'NameClaim', DEFAULT_ORGANISATION_SYNC.nameClaim),
    teamMapping,
  };
}

function claimValue(claims: Record<string, unknown>, name: string): string | null {
  let v: unknown = claims[name];
  if (v === undefined && name.includes('.')) {
    // A nested claim, e.g. "organization.id".
    v = name.split('.').reduce<unknown>((cur, part) => (isPlainObject(cur) ? cur[part] : undefined), claims);
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
