import { EmulatorError } from './emulator.error.js';
import type { Developer, EmulatorState, Organisation, Team, User } from './emulator.state.js';
import type { PortalContract } from './portal-contract.js';

/** Response shapes, named after the EDP OpenAPI components (v1.14.0) they reproduce. */

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** `YYYY-MM-DD HH:MM` (UTC), the portal's timestamp format: `toISOString()` cut short, built directly. */
export function portalDate(d: Date): string {
  const year = d.getUTCFullYear();
  // Other years (and invalid dates, which throw) take toISOString's own formatting.
  if (!(year >= 1000 && year <= 9999)) return d.toISOString().slice(0, 16).replace('T', ' ');
  const date = `${year}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
  return `${date} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
}

export function userIndexElem(u: User) {
  return {
    ID: u.ID,
    Email: u.Email,
    First: u.First,
    Last: u.Last,
    Role: u.Role,
    OrganisationID: u.OrganisationID,
    Active: u.Active,
    Provider: u.Provider,
  };
}

/** `User-show`: `Teams` holds the team *names* (the OpenAPI types its items as strings). */
export function userShow(state: EmulatorState, u: User) {
  // userIndexElem's fields spelt out: a spread followed by more fields is slow in V8.
  return {
    ID: u.ID,
    Email: u.Email,
    First: u.First,
    Last: u.Last,
    Role: u.Role,
    OrganisationID: u.OrganisationID,
    Active: u.Active,
    Provider: u.Provider,
    JWTToken: u.JWTToken,
    APITokenCreatedAt: u.APITokenCreatedAt,
    Organisation: state.orgs.get(u.OrganisationID)?.Name ?? '',
    ResetPassword: u.ResetPassword,
    Teams: u.Teams.map((id) => state.teams.get(id)?.Name).filter((n): n is string => n !== undefined),
    CreatedAt: portalDate(u.CreatedAt),
    UpdatedAt: portalDate(u.UpdatedAt),
  };
}

export function teamIndexElem(t: Team) {
  return { ID: t.ID, Name: t.Name, Default: t.Default };
}

/** `Team-show`: members as `User#<id>` strings. */
export function teamShow(state: EmulatorState, t: Team) {
  return {
    ID: t.ID,
    Name: t.Name,
    Users: state.membersOf(t.ID).map((u) => `User#${u.ID}`),
    CreatedAt: portalDate(t.CreatedAt),
    UpdatedAt: portalDate(t.UpdatedAt),
  };
}

export function orgIndexElem(o: Organisation) {
  return { ID: o.ID, Name: o.Name };
}

export function orgShow(state: EmulatorState, o: Organisation) {
  return {
    ID: o.ID,
    Name: o.Name,
    Teams: state.teamsOf(o.ID).map(teamIndexElem),
    Users: state.usersOf(o.ID).map(userIndexElem),
    CreatedAt: portalDate(o.CreatedAt),
    UpdatedAt: portalDate(o.UpdatedAt),
  };
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** The Dashboard `PortalDeveloper` JSON TIB decodes and sends back (specs/tib.md §5.2 step 4). */
export function developerJson(u: User, d: Developer) {
  return {
    id: d.id,
    email: u.Email,
    date_created: d.dateCreated,
    inactive: !u.Active,
    org_id: String(u.OrganisationID),
    keys: d.keys,
    subscriptions: d.subscriptions,
    fields: d.fields,
    nonce: '',
    sso_key: d.ssoKey,
    password_max_days: 0,
    password_updated: ZERO_TIME,
    PWHistory: null,
    last_login_date: ZERO_TIME,
  };
}

/**
 * Page through a list the EDP way: `page` (1), `per_page` (20), `limit` overrides the count only.
 * `maxPerPage` caps both server-side (E2): with `perPageOverMax` `clamp` a client that trusts the
 * size it asked for sees a short page; with `reject` a size above the cap is a 422 (E13: which of
 * the two the real portal does is unknown). Takes any iterable (e.g. a Map's values), so a page
 * costs no copy of the whole list.
 */
export function paginate<T>(
  items: Iterable<T>,
  query: Record<string, unknown>,
  cap: Pick<PortalContract, 'maxPerPage' | 'perPageOverMax'> = { maxPerPage: Infinity, perPageOverMax: 'clamp' },
): T[] {
  const positive = (v: unknown): number | undefined => {
    if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
    const n = Number(v);
    return n >= 1 ? n : undefined;
  };
  const page = positive(query.page) ?? 1;
  const askedPerPage = positive(query.per_page) ?? 20;
  const askedLimit = positive(query.limit);
  const { maxPerPage } = cap;
  if (cap.perPageOverMax === 'reject' && Math.max(askedPerPage, askedLimit ?? 0) > maxPerPage) {
    throw new EmulatorError('invalid', `per_page must be at most ${maxPerPage}`);
  }
  const perPage = Math.min(askedPerPage, maxPerPage);
  const count = Math.min(askedLimit ?? perPage, maxPerPage);
  const start = (page - 1) * perPage;
  const end = start + count;
  const out: T[] = [];
  let index = 0;
  for (const item of items) {
    if (index >= end) break;
    if (index >= start) out.push(item);
    index++;
  }
  return out;
}
