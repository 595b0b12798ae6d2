// Over 300 lines, one job: decoding TIB's profile format. decodeProfile walks every field in one
// pass so that a save reports all of a profile's problems at once, each with its path; the
// model (profile.model.ts), storage (profiles.repository.ts) and rules (profiles.service.ts) are
// elsewhere.
import {
  DomainError,
  getCaseInsensitive,
  goFoldName,
  isAllowedIdpUrl,
  isPlainObject,
  jsonTextProblems,
  readOrganisationSyncSettings,
  setOwn,
  type TextLimits,
} from '@app/common';
import {
  ACTION_TYPES,
  PROVIDER_NAMES,
  type ActionType,
  type ProviderName,
  type SocialProviderEntry,
  type TibProfile,
} from './profile.model.js';

/** What a stored profile's ID may be made of (so anything else names no profile). */
export const PROFILE_ID = /^[A-Za-z0-9._-]+$/;
/** The longest ID a profile can have. */
export const MAX_PROFILE_ID_LENGTH = 128;

/** Whether `id` could name a stored profile: anything else is not looked up. */
export function isProfileId(id: string): boolean {
  return id.length <= MAX_PROFILE_ID_LENGTH && PROFILE_ID.test(id);
}

type Json = Record<string, unknown>;

/**
 * Bounds on every profile, whatever the field (README "Profiles"): no string a real profile needs
 * comes near them, and they keep the work a save does (validation, diff, audit) small and linear.
 */
export const PROFILE_LIMITS = {
  maxStringLength: 2048,
  maxKeyLength: 256,
  maxEntries: 1000,
  maxDepth: 16,
} as const satisfies TextLimits;

export interface ProfileProblem {
  path: string;
  reason: string;
}

/** Byte order of the UTF-8 keys: how Go's json.Marshal sorts a map's keys. */
function goKeyOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The broker's own reading of a ProviderConfig, as TIB's provider decodes it: TIB keeps the value
 * as a Go map and re-marshals it (keys in byte order) before json.Unmarshal reads it into the
 * provider's struct, matching keys case-insensitively, the last match winning. So the keys the
 * broker reads come out in canonical casing, and of two spellings of one key (`Key` and `key`) the
 * one sorting last is used. Only for reading: the profile is stored and served as sent.
 */
function canonicalKeys(obj: Json, known: Record<string, ((v: unknown) => unknown) | null>): Json {
  const out: Json = {};
  const canonical = new Map(Object.keys(known).map((k) => [goFoldName(k), k]));
  for (const k of Object.keys(obj).sort(goKeyOrder)) {
    const v = obj[k];
    const c = canonical.get(goFoldName(k));
    if (c === undefined) {
      setOwn(out, k, v);
    } else {
      const transform = known[c];
      setOwn(out, c, transform ? transform(v) : v);
    }
  }
  return out;
}

const mapObjects = (known: Record<string, ((v: unknown) => unknown) | null>) => (v: unknown) =>
  isPlainObject(v) ? canonicalKeys(v, known) : v;

const USE_PROVIDER_KEYS = {
  Name: null,
  Key: null,
  Secret: null,
  DiscoverURL: null,
  Scopes: null,
  SkipUserInfoRequest: null,
  DisableAuthHeaderProviderDomain: null,
  TokenEndpointAuthMethod: null,
};

const PROVIDER_CONFIG_KEYS: Record<string, ((v: unknown) => unknown) | null> = {
  CallbackBaseURL: null,
  FailureRedirect: null,
  PostLogoutRedirectURL: null,
  UseProviders: (v) => (Array.isArray(v) ? v.map(mapObjects(USE_PROVIDER_KEYS)) : v),
  JWE: mapObjects({ Enabled: null, PrivateKeyLocation: null }),
  AllowUnverifiedEmail: null,
  AllowInsecureHttp: null,
  // SAML: the README's IDPMetaDataURL works in TIB only through Go's case-insensitive keys.
  IDPMetadataURL: null,
  CertLocation: null,
  SAMLBaseURL: null,
  ForceAuthentication: null,
  SAMLBinding: null,
  SAMLEmailClaim: null,
  SAMLForenameClaim: null,
  SAMLSurnameClaim: null,
  EntityId: null,
};

function httpUrlProblem(value: string): string | null {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'must be an http(s) URL';
  } catch {
    return 'must be an http(s) URL';
  }
}

/**
 * Decodes a profile as TIB does (case-insensitive keys, unknown top-level keys dropped), then
 * validates it more strictly than TIB. Returns the canonical profile (ProviderConfig and
 * IdentityHandlerConfig as sent) or every problem found, each with its field path.
 */
export function decodeProfile(
  input: unknown,
): { profile: TibProfile; problems: [] } | { profile: null; problems: ProfileProblem[] } {
  const problems: ProfileProblem[] = [];
  if (!isPlainObject(input)) {
    return { profile: null, problems: [{ path: '', reason: 'a profile must be a JSON object' }] };
  }
  // Before anything reads it: text Postgres cannot store (NUL, unpaired surrogates) and oversized
  // fields are refused here with their path, never by the database as a 500 (issue 13).
  const unsafe = jsonTextProblems(input, PROFILE_LIMITS);
  if (unsafe.length > 0) return { profile: null, problems: unsafe };
  const str = (key: string): string => {
    const v = getCaseInsensitive(input, key, true);
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') {
      problems.push({ path: key, reason: 'must be a string' });
      return '';
    }
    return v;
  };
  const id = str('ID');
  const name = str('Name');
  const orgId = str('OrgID');
  const actionType = str('ActionType');
  const matchedPolicyId = str('MatchedPolicyID');
  const type = str('Type');
  const providerName = str('ProviderName');
  const customEmailField = str('CustomEmailField');
  const customUserIdField = str('CustomUserIDField');
  const returnUrl = str('ReturnURL');
  const defaultUserGroupId = str('DefaultUserGroupID');
  const customUserGroupField = str('CustomUserGroupField');
  const userGroupSeparator = str('UserGroupSeparator');

  if (id === '') problems.push({ path: 'ID', reason: 'must not be empty' });
  else if (id.length > MAX_PROFILE_ID_LENGTH) {
    problems.push({ path: 'ID', reason: `must be at most ${MAX_PROFILE_ID_LENGTH} characters` });
  } else if (!PROFILE_ID.test(id)) problems.push({ path: 'ID', reason: 'may contain only A-Z a-z 0-9 . _ -' });
  if (!(ACTION_TYPES as readonly string[]).includes(actionType)) {
    problems.push({ path: 'ActionType', reason: `must be one of ${ACTION_TYPES.join(', ')}` });
  }
  if (!(PROVIDER_NAMES as readonly string[]).includes(providerName)) {
    problems.push({ path: 'ProviderName', reason: `must be one of ${PROVIDER_NAMES.join(', ')}` });
  }
  if (returnUrl !== '') {
    const p = httpUrlProblem(returnUrl);
    if (p) problems.push({ path: 'ReturnURL', reason: p });
  }

  const ssoOnly = getCaseInsensitive(input, 'SSOOnlyForRegisteredUsers', true);
  if (ssoOnly !== undefined && ssoOnly !== null && typeof ssoOnly !== 'boolean') {
    problems.push({ path: 'SSOOnlyForRegisteredUsers', reason: 'must be a boolean' });
  }

  const constraintsRaw = getCaseInsensitive(input, 'ProviderConstraints');
  const constraints = { Domain: '', Group: '' };
  if (constraintsRaw !== undefined && constraintsRaw !== null) {
    if (!isPlainObject(constraintsRaw)) {
      problems.push({ path: 'ProviderConstraints', reason: 'must be an object' });
    } else {
      for (const key of ['Domain', 'Group'] as const) {
        const v = getCaseInsensitive(constraintsRaw, key);
        if (v === undefined || v === null) continue;
        if (typeof v !== 'string') problems.push({ path: `ProviderConstraints.${key}`, reason: 'must be a string' });
        else constraints[key] = v;
      }
    }
  }

  const mappingRaw = getCaseInsensitive(input, 'UserGroupMapping');
  let mapping: Record<string, string> | null = null;
  if (mappingRaw !== undefined && mappingRaw !== null) {
    if (!isPlainObject(mappingRaw)) {
      problems.push({ path: 'UserGroupMapping', reason: 'must be an object mapping strings to strings' });
    } else {
      mapping = {};
      for (const [k, v] of Object.entries(mappingRaw)) {
        if (typeof v !== 'string') problems.push({ path: `UserGroupMapping.${k}`, reason: 'must be a string' });
        else setOwn(mapping, k, v);
      }
    }
  }

  // ProviderConfig and IdentityHandlerConfig are kept exactly as sent (TIB stores them as free-form
  // values); what is validated is the broker's reading of them, the one the login path uses.
  const providerConfigRaw = getCaseInsensitive(input, 'ProviderConfig');
  const providerConfig: unknown = providerConfigRaw === undefined ? null : providerConfigRaw;
  if (providerName === 'SocialProvider') {
    validateSocial(readProviderConfig(providerConfig), problems);
  }

  const handlerRaw = getCaseInsensitive(input, 'IdentityHandlerConfig');
  let handlerConfig: Record<string, unknown> | null = null;
  if (handlerRaw !== undefined && handlerRaw !== null) {
    if (!isPlainObject(handlerRaw)) {
      problems.push({ path: 'IdentityHandlerConfig', reason: 'must be an object or null' });
    } else {
      handlerConfig = handlerRaw;
      validateHandler(handlerConfig, problems);
    }
  }

  if (problems.length > 0) {
    return { profile: null, problems };
  }
  return {
    profile: {
      ID: id,
      Name: name,
      OrgID: orgId,
      ActionType: actionType as ActionType,
      MatchedPolicyID: matchedPolicyId,
      Type: type,
      ProviderName: providerName as ProviderName,
      CustomEmailField: customEmailField,
      CustomUserIDField: customUserIdField,
      ProviderConfig: providerConfig,
      IdentityHandlerConfig: handlerConfig,
      ProviderConstraints: constraints,
      ReturnURL: returnUrl,
      DefaultUserGroupID: defaultUserGroupId,
      CustomUserGroupField: customUserGroupField,
      UserGroupMapping: mapping,
      UserGroupSeparator: userGroupSeparator,
      SSOOnlyForRegisteredUsers: ssoOnly === true,
    },
    problems: [],
  };
}

function validateSocial(config: unknown, problems: ProfileProblem[]): void {
  if (!isPlainObject(config)) {
    problems.push({ path: 'ProviderConfig', reason: 'must be an object for SocialProvider' });
    return;
  }
  const callback = config.CallbackBaseURL;
  if (typeof callback !== 'string' || httpUrlProblem(callback)) {
    problems.push({ path: 'ProviderConfig.CallbackBaseURL', reason: 'must be an http(s) URL' });
  }
  const failure = config.FailureRedirect;
  if (failure !== undefined && failure !== null && failure !== '') {
    if (typeof failure !== 'string' || httpUrlProblem(failure)) {
      problems.push({ path: 'ProviderConfig.FailureRedirect', reason: 'must be an http(s) URL' });
    }
  }
  const postLogout = config.PostLogoutRedirectURL;
  if (postLogout !== undefined && postLogout !== null && postLogout !== '') {
    if (typeof postLogout !== 'string' || httpUrlProblem(postLogout)) {
      problems.push({ path: 'ProviderConfig.PostLogoutRedirectURL', reason: 'must be an http(s) URL' });
    }
  }
  const allow = config.AllowUnverifiedEmail;
  if (allow !== undefined && allow !== null && typeof allow !== 'boolean') {
    problems.push({ path: 'ProviderConfig.AllowUnverifiedEmail', reason: 'must be a boolean' });
  }
  const insecure = config.AllowInsecureHttp;
  if (insecure !== undefined && insecure !== null && typeof insecure !== 'boolean') {
    problems.push({ path: 'ProviderConfig.AllowInsecureHttp', reason: 'must be a boolean' });
  }
  const providers = config.UseProviders;
  if (!Array.isArray(providers)) {
    problems.push({ path: 'ProviderConfig.UseProviders', reason: 'must be an array' });
    return;
  }
  providers.forEach((entry: unknown, i) => {
    const at = `ProviderConfig.UseProviders[${i}]`;
    if (!isPlainObject(entry)) {
      problems.push({ path: at, reason: 'must be an object' });
      return;
    }
    if (typeof entry.Name !== 'string' || entry.Name === '') {
      problems.push({ path: `${at}.Name`, reason: 'must be a non-empty string' });
    }
    for (const key of ['Key', 'Secret', 'DiscoverURL', 'DisableAuthHeaderProviderDomain', 'TokenEndpointAuthMethod']) {
      if (entry[key] !== undefined && entry[key] !== null && typeof entry[key] !== 'string') {
        problems.push({ path: `${at}.${key}`, reason: 'must be a string' });
      }
    }
    if (
      entry.SkipUserInfoRequest !== undefined &&
      entry.SkipUserInfoRequest !== null &&
      typeof entry.SkipUserInfoRequest !== 'boolean'
    ) {
      problems.push({ path: `${at}.SkipUserInfoRequest`, reason: 'must be a boolean' });
    }
    if (entry.Scopes !== undefined && entry.Scopes !== null) {
      if (!Array.isArray(entry.Scopes) || entry.Scopes.some((s) => typeof s !== 'string')) {
        problems.push({ path: `${at}.Scopes`, reason: 'must be an array of strings' });
      }
    }
    if (entry.Name === 'openid-connect') {
      if (typeof entry.Key !== 'string' || entry.Key === '') {
        problems.push({ path: `${at}.Key`, reason: 'is required for openid-connect (the client id)' });
      }
      if (typeof entry.DiscoverURL !== 'string' || httpUrlProblem(entry.DiscoverURL)) {
        problems.push({ path: `${at}.DiscoverURL`, reason: 'must be an http(s) URL for openid-connect' });
      } else if (!isAllowedIdpUrl(entry.DiscoverURL, insecure === true)) {
        problems.push({
          path: `${at}.DiscoverURL`,
          reason: 'must be https: plain http only to a loopback host, or with ProviderConfig.AllowInsecureHttp: true',
        });
      }
      const method = entry.TokenEndpointAuthMethod;
      if (
        typeof method === 'string' &&
        method !== '' &&
        !['client_secret_basic', 'client_secret_post'].includes(method)
      ) {
        problems.push({
          path: `${at}.TokenEndpointAuthMethod`,
          reason: 'must be client_secret_basic or client_secret_post',
        });
      }
    }
  });
}

/** What a profile value sent as an HTTP header value may hold: printable ASCII, space and tab. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

function validateHandler(config: Json, problems: ProfileProblem[]): void {
  // Read as the login path reads it (libs/tyk-portal's readDashboardCredential).
  const cred = getCaseInsensitive(config, 'DashboardCredential');
  if (cred !== undefined && cred !== null && typeof cred !== 'string') {
    problems.push({ path: 'IdentityHandlerConfig.DashboardCredential', reason: 'must be a string' });
  } else if (typeof cred === 'string' && !HEADER_VALUE.test(cred)) {
    // It is sent as the Authorization header: a CR, LF or other control character, or one beyond
    // U+00FF, makes every portal call throw (undici refuses it); U+0080-U+00FF would go out as
    // Latin-1, where TIB (Go) sends UTF-8 bytes.
    problems.push({
      path: 'IdentityHandlerConfig.DashboardCredential',
      reason: 'must be printable ASCII (spaces and tabs allowed): it is sent as an HTTP header',
    });
  }
  // The login path's own parser, so a profile saved here cannot fail every login instead.
  problems.push(...readOrganisationSyncSettings(config).problems);
}

/** Decodes or throws DomainError('profile_invalid') naming every field path and reason. */
export function decodeProfileOrThrow(input: unknown, where = ''): TibProfile {
  const result = decodeProfile(input);
  if (result.profile) return result.profile;
  const text = result.problems.map((p) => `${where}${p.path || '(profile)'}: ${p.reason}`).join('; ');
  throw new DomainError('profile_invalid', text, { problems: result.problems });
}

const readings = new WeakMap<Json, Json>();

/** The broker's reading of a ProviderConfig value (see canonicalKeys); a non-object as it is. */
function readProviderConfig(config: unknown): unknown {
  if (!isPlainObject(config)) return config;
  let reading = readings.get(config);
  if (reading === undefined) {
    reading = canonicalKeys(config, PROVIDER_CONFIG_KEYS);
    readings.set(config, reading);
  }
  return reading;
}

/**
 * A profile's ProviderConfig as the broker reads it: the keys it knows in canonical casing (sent in
 * any case, as TIB's Go decoding accepts them), the rest as sent; null when it is not an object.
 * Every reader of ProviderConfig goes through this, never through the stored value's own keys.
 */
export function providerSettings(profile: TibProfile): Json | null {
  const reading = readProviderConfig(profile.ProviderConfig);
  return isPlainObject(reading) ? reading : null;
}

/** The openid-connect (or other named) entry of a SocialProvider profile, canonical casing. */
export function socialProvider(profile: TibProfile, name: string): SocialProviderEntry | null {
  const cfg = providerSettings(profile);
  if (profile.ProviderName !== 'SocialProvider' || !cfg) return null;
  const list = cfg.UseProviders;
  if (!Array.isArray(list)) return null;
  const entry = list.find((e): e is Json => isPlainObject(e) && e.Name === name);
  if (!entry) return null;
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    Name: s(entry.Name),
    Key: s(entry.Key),
    Secret: s(entry.Secret),
    DiscoverURL: s(entry.DiscoverURL),
    Scopes: Array.isArray(entry.Scopes) ? entry.Scopes.filter((x): x is string => typeof x === 'string') : null,
    SkipUserInfoRequest: entry.SkipUserInfoRequest === true,
    TokenEndpointAuthMethod:
      typeof entry.TokenEndpointAuthMethod === 'string' ? entry.TokenEndpointAuthMethod : undefined,
  };
}

/** A top-level string of ProviderConfig (e.g. CallbackBaseURL, FailureRedirect), or ''. */
export function providerConfigString(profile: TibProfile, key: string): string {
  const v = providerSettings(profile)?.[key];
  return typeof v === 'string' ? v : '';
}

export function providerConfigFlag(profile: TibProfile, key: string): boolean {
  return providerSettings(profile)?.[key] === true;
}
