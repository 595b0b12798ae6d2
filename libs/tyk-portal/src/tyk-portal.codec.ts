import { getCaseInsensitive, isPlainObject } from '@app/common';
import { goJsonStringify } from './go-encoding.js';
import type { PortalDeveloper, PortalOrganisation, PortalTeam, PortalUser } from './tyk-portal.types.js';

/*
 * The Tyk bodies the clients read and write: decoded the way TIB's Go structs decode them (keys
 * in any case, unknown keys dropped, missing fields at their zero value) and encoded in TIB's
 * field order.
 */

/** Go's zero `time.Time`, as TIB serialises unset dates. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function idString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return '';
}

/**
 * Management API ids (`ID`, `OrganisationID`) are integers in the spec; send a decimal id as a
 * JSON number, anything else (a CID) as a string. Never used for `Teams`, which are strings (E1).
 */
export function portalIdValue(id: string): number | string {
  return /^\d{1,15}$/.test(id) ? Number(id) : id;
}

function objectOrNull(v: unknown): Record<string, unknown> | null {
  return isPlainObject(v) ? v : null;
}

/**
 * A developer decoded the way TIB's Go struct decodes it (keys in any case, unknown keys dropped,
 * missing fields at their zero value: nil maps become `null`, unset times Go's zero time), so the
 * PUT body is the one TIB would send back. `oauth_clients` (in TIB's struct since it learnt of
 * the portal's OAuth clients) is kept as received rather than re-typed, so nothing in it is lost.
 */
export function decodeDeveloper(raw: Record<string, unknown>): PortalDeveloper {
  const g = (k: string) => getCaseInsensitive(raw, k);
  const id = g('id');
  const history = g('PWHistory');
  const maxDays = g('password_max_days');
  return {
    // Opaque (E5): TIB decodes a 24-hex ObjectID string; a number is kept as its decimal string.
    id: idString(id),
    email: str(g('email')),
    date_created: str(g('date_created')) || GO_ZERO_TIME,
    inactive: g('inactive') === true,
    org_id: str(g('org_id')),
    keys: objectOrNull(g('keys')),
    subscriptions: objectOrNull(g('subscriptions')),
    fields: objectOrNull(g('fields')),
    nonce: str(g('nonce')),
    sso_key: str(g('sso_key')),
    oauth_clients: objectOrNull(g('oauth_clients')),
    password_max_days: typeof maxDays === 'number' ? maxDays : 0,
    password_updated: str(g('password_updated')) || GO_ZERO_TIME,
    PWHistory: Array.isArray(history) ? (history as unknown[]) : null,
    last_login_date: str(g('last_login_date')) || GO_ZERO_TIME,
  };
}

/**
 * The developer in TIB's struct order (tyk-api/tyk_api.go `PortalDeveloper`), whatever order the
 * object was built in: `oauth_clients` after `sso_key` and left out when empty (`omitempty`),
 * `PWHistory` before `last_login_date`.
 */
export function encodeDeveloper(d: PortalDeveloper): string {
  const oauthClients = d.oauth_clients ?? null;
  return goJsonStringify({
    id: d.id,
    email: d.email,
    date_created: d.date_created,
    inactive: d.inactive,
    org_id: d.org_id,
    keys: d.keys,
    subscriptions: d.subscriptions,
    fields: d.fields,
    nonce: d.nonce,
    sso_key: d.sso_key,
    ...(oauthClients !== null && Object.keys(oauthClients).length > 0 ? { oauth_clients: oauthClients } : {}),
    password_max_days: d.password_max_days,
    password_updated: d.password_updated,
    PWHistory: d.PWHistory,
    last_login_date: d.last_login_date,
  });
}

export function decodeUser(raw: Record<string, unknown>): PortalUser {
  const g = (k: string) => getCaseInsensitive(raw, k);
  const teams = g('Teams');
  const teamRefs = Array.isArray(teams)
    ? teams
        .map((t) =>
          isPlainObject(t) ? idString(getCaseInsensitive(t, 'ID')) || str(getCaseInsensitive(t, 'Name')) : idString(t),
        )
        .filter((t) => t !== '')
    : [];
  return {
    ID: idString(g('ID')),
    Email: str(g('Email')),
    First: str(g('First')),
    Last: str(g('Last')),
    Role: str(g('Role')),
    OrganisationID: idString(g('OrganisationID')),
    Active: g('Active') === true,
    Provider: str(g('Provider')),
    Teams: teamRefs,
  };
}

export function decodeTeam(raw: Record<string, unknown>): PortalTeam {
  return {
    ID: idString(getCaseInsensitive(raw, 'ID')),
    Name: str(getCaseInsensitive(raw, 'Name')),
    Default: getCaseInsensitive(raw, 'Default') === true,
  };
}

export function decodeOrganisation(raw: Record<string, unknown>): PortalOrganisation {
  return { ID: idString(getCaseInsensitive(raw, 'ID')), Name: str(getCaseInsensitive(raw, 'Name')) };
}
