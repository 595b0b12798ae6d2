import { DomainError } from './domain-error.js';
import { getCaseInsensitive, isPlainObject } from './go-json.js';

// The one reading of `IdentityHandlerConfig.OrganisationSync`. It lives here, not in tyk-portal,
// because two libs that may not import each other need the same rules: the profiles lib refuses
// at save what the login path (through tyk-portal) would refuse at every login.

/** The portal roles the broker may give a developer (consumer roles only: never an admin role). */
export const CONSUMER_ROLES = ['consumer-admin', 'consumer-team-member'] as const;
export type ConsumerRole = (typeof CONSUMER_ROLES)[number];

/**
 * Whether a portal account's role is a developer's (a consumer role), i.e. one the broker may act
 * on: re-role, move, deactivate, reactivate or delete. An admin (`super-admin`, `provider-admin`)
 * or a role the broker does not know is never touched on a developer's behalf.
 */
export function isConsumerRole(role: string): boolean {
  return (CONSUMER_ROLES as readonly string[]).includes(role.trim().toLowerCase());
}
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

/** One thing wrong with the settings: the field's path and what is wrong with it. */
export interface OrganisationSyncProblem {
  path: string;
  reason: string;
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

const got = (v: unknown): string => `got ${JSON.stringify(v) ?? 'undefined'}`;

/**
 * Reads `OrganisationSync` from a profile's IdentityHandlerConfig (keys in any case, as Go's JSON
 * decoding matches them; the American `OrganizationSync` is read too when the British is absent)
 * and returns the settings with every problem found, each naming its field as the profile spells
 * the block. Absent → disabled with the default claim names. Settings are only meaningful when
 * there are no problems.
 */
export function readOrganisationSyncSettings(identityHandlerConfig: unknown): {
  settings: OrganisationSyncSettings;
  problems: OrganisationSyncProblem[];
} {
  const settings = defaults();
  const problems: OrganisationSyncProblem[] = [];
  const result = { settings, problems };
  if (identityHandlerConfig === undefined || identityHandlerConfig === null) return result;
  if (!isPlainObject(identityHandlerConfig)) {
    problems.push({ path: 'IdentityHandlerConfig', reason: `expected an object, ${got(identityHandlerConfig)}` });
    return result;
  }
  let base = 'IdentityHandlerConfig.OrganisationSync';
  let raw = getCaseInsensitive(identityHandlerConfig, 'OrganisationSync');
  if (raw === undefined) {
    raw = getCaseInsensitive(identityHandlerConfig, 'OrganizationSync');
    base = 'IdentityHandlerConfig.OrganizationSync';
  }
  if (raw === undefined || raw === null) return result;
  if (!isPlainObject(raw)) {
    problems.push({ path: base, reason: `expected an object, ${got(raw)}` });
    return result;
  }
  const sync = raw;
  const problem = (field: string, reason: string, value: unknown) =>
    problems.push({ path: `${base}.${field}`, reason: `${reason}, ${got(value)}` });

  const enabledRaw = getCaseInsensitive(sync, 'Enabled');
  if (enabledRaw !== undefined && enabledRaw !== null && typeof enabledRaw !== 'boolean') {
    problem('Enabled', 'expected true or false', enabledRaw);
  }
  settings.enabled = enabledRaw === true;

  const claimName = (key: string, fallback: string): string => {
    const v = getCaseInsensitive(sync, key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string' || v.trim() === '') {
      problem(key, 'expected a non-empty claim name', v);
      return fallback;
    }
    return v.trim();
  };
  settings.idClaim = claimName('IdClaim', DEFAULT_ORGANISATION_SYNC.idClaim);
  settings.nameClaim = claimName('NameClaim', DEFAULT_ORGANISATION_SYNC.nameClaim);

  // A mapping's entries (none when absent; the maps are prototype-free, so any key is an own key).
  const entriesOf = (field: string): [string, unknown][] => {
    const raw = getCaseInsensitive(sync, field);
    if (raw === undefined || raw === null) return [];
    if (isPlainObject(raw)) return Object.entries(raw);
    problem(field, 'expected an object', raw);
    return [];
  };

  for (const [orgId, teamId] of entriesOf('TeamMapping')) {
    if (orgId.trim() === '') {
      problem('TeamMapping', 'expected non-empty organisation ids', orgId);
    } else if (typeof teamId === 'string' && teamId.trim() !== '') {
      settings.teamMapping[orgId] = teamId.trim();
    } else if (typeof teamId === 'number' && Number.isInteger(teamId) && teamId >= 0) {
      settings.teamMapping[orgId] = String(teamId);
    } else {
      problem(`TeamMapping.${orgId}`, 'expected a portal team id', teamId);
    }
  }

  const consumerRole = (field: string, v: unknown): ConsumerRole | null => {
    if (typeof v === 'string' && (CONSUMER_ROLES as readonly string[]).includes(v.trim())) {
      return v.trim() as ConsumerRole;
    }
    problem(field, `expected one of ${CONSUMER_ROLES.join(', ')}`, v);
    return null;
  };

  const roleClaimRaw = getCaseInsensitive(sync, 'RoleClaim');
  settings.roleClaim =
    roleClaimRaw === undefined || roleClaimRaw === null || roleClaimRaw === '' ? null : claimName('RoleClaim', '');
  if (settings.roleClaim === '') settings.roleClaim = null;
  for (const [value, role] of entriesOf('RoleMapping')) {
    const r = consumerRole(`RoleMapping.${value}`, role);
    if (r !== null) settings.roleMapping[value] = r;
  }
  const defaultRoleRaw = getCaseInsensitive(sync, 'DefaultRole');
  const explicitDefault =
    defaultRoleRaw === undefined || defaultRoleRaw === null || defaultRoleRaw === ''
      ? null
      : consumerRole('DefaultRole', defaultRoleRaw);
  settings.defaultRole = explicitDefault ?? (settings.roleClaim !== null ? DEFAULT_DEVELOPER_ROLE : null);
  return result;
}

/**
 * The settings, or DomainError('validation_failed') naming the first offending field (in
 * `details.field`) and, in its message, every problem.
 */
export function parseOrganisationSyncSettings(identityHandlerConfig: unknown): OrganisationSyncSettings {
  const { settings, problems } = readOrganisationSyncSettings(identityHandlerConfig);
  const first = problems[0];
  if (first === undefined) return settings;
  throw new DomainError('validation_failed', problems.map((p) => `${p.path}: ${p.reason}`).join('; '), {
    field: first.path,
  });
}
