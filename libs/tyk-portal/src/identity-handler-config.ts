import { DomainError, getCaseInsensitive, isPlainObject } from '@app/common';

/** TIB's `OAuth` block (GenerateOAuthTokenForClient). `Secret` is read by TIB but never sent. */
export interface OAuthActionSettings {
  APIListenPath: string;
  RedirectURI: string;
  ResponseType: string;
  ClientId: string;
  BaseAPIID: string;
  NoRedirect: boolean;
}

/** TIB's `TokenAuth` block (GenerateTemporaryAuthToken). */
export interface TokenAuthSettings {
  BaseAPIID: string;
  /** Lifetime in seconds; TIB's default is 3600. */
  Expires: number;
}

function invalid(field: string, problem: string): DomainError {
  return new DomainError('profile_invalid', `IdentityHandlerConfig.${field}: ${problem}`, {
    field: `IdentityHandlerConfig.${field}`,
  });
}

function section(config: Record<string, unknown> | null, key: string): Record<string, unknown> | null {
  if (!config) return null;
  const v = getCaseInsensitive(config, key);
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v)) throw invalid(key, 'expected an object');
  return v;
}

function str(obj: Record<string, unknown>, path: string, key: string, required: boolean): string {
  const v = getCaseInsensitive(obj, key);
  if (v === undefined || v === null) {
    if (required) throw invalid(`${path}.${key}`, 'is required');
    return '';
  }
  if (typeof v !== 'string') throw invalid(`${path}.${key}`, 'expected a string');
  return v;
}

/** `DashboardCredential`: the raw `authorization` value for Dashboard/portal calls ("" when unset). */
export function readDashboardCredential(config: Record<string, unknown> | null): string {
  if (!config) return '';
  const v = getCaseInsensitive(config, 'DashboardCredential');
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalid('DashboardCredential', 'expected a string');
  return v;
}

/** `DisableOneTokenPerAPI` (default false: the previous token is revoked). */
export function readDisableOneTokenPerApi(config: Record<string, unknown> | null): boolean {
  if (!config) return false;
  const v = getCaseInsensitive(config, 'DisableOneTokenPerAPI');
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid('DisableOneTokenPerAPI', 'expected true or false');
  return v;
}

/**
 * The `OAuth` block. TIB panics on a missing key (its issue #25); here a missing or mistyped key
 * is a `profile_invalid` error naming it, except `NoRedirect`, which defaults to false.
 */
export function readOAuthSettings(config: Record<string, unknown> | null): OAuthActionSettings {
  const oauth = section(config, 'OAuth');
  if (!oauth) throw invalid('OAuth', 'is required for GenerateOAuthTokenForClient');
  const noRedirect = getCaseInsensitive(oauth, 'NoRedirect');
  if (noRedirect !== undefined && noRedirect !== null && typeof noRedirect !== 'boolean') {
    throw invalid('OAuth.NoRedirect', 'expected true or false');
  }
  const settings: OAuthActionSettings = {
    APIListenPath: str(oauth, 'OAuth', 'APIListenPath', true),
    RedirectURI: str(oauth, 'OAuth', 'RedirectURI', true),
    ResponseType: str(oauth, 'OAuth', 'ResponseType', true),
    ClientId: str(oauth, 'OAuth', 'ClientId', true),
    BaseAPIID: str(oauth, 'OAuth', 'BaseAPIID', true),
    NoRedirect: noRedirect === true,
  };
  // TIB: "Requires client ID".
  if (settings.ClientId === '') throw invalid('OAuth.ClientId', 'must not be empty');
  return settings;
}

/** The `TokenAuth` block: `BaseAPIID` required, `Expires` seconds (default 3600). */
export function readTokenAuthSettings(config: Record<string, unknown> | null): TokenAuthSettings {
  const token = section(config, 'TokenAuth');
  if (!token) throw invalid('TokenAuth', 'is required for GenerateTemporaryAuthToken');
  const baseApiId = str(token, 'TokenAuth', 'BaseAPIID', true);
  if (baseApiId === '') throw invalid('TokenAuth.BaseAPIID', 'must not be empty');
  const expires = getCaseInsensitive(token, 'Expires');
  if (expires !== undefined && expires !== null && (typeof expires !== 'number' || !Number.isFinite(expires))) {
    throw invalid('TokenAuth.Expires', 'expected a number of seconds');
  }
  // Go converts the float64 with int64(), which truncates.
  return { BaseAPIID: baseApiId, Expires: typeof expires === 'number' ? Math.trunc(expires) : 3600 };
}
