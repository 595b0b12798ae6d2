import { EmulatorError } from './emulator.error.js';

/**
 * The points where the real portal's behaviour is unknown or version-dependent (specs/tyk-portal.md
 * §E13), switchable so the broker can be tested against each plausible behaviour.
 */
export interface PortalContract {
  /**
   * What `PUT /portal-api/users/{id}` reads from `Teams` (always strings, E1): team ids as decimal
   * strings (the spec's current description) or team names (its description until mid-2026).
   */
  teamsWrite: 'ids' | 'names';
  /** What a `Teams` entry in the other form does: a 422, or silently nothing (the team is not joined). */
  unknownTeams: 'reject' | 'ignore';
  /** Server-side cap on `per_page` (E2: the real default is 20, no maximum is documented). */
  maxPerPage: number;
  /**
   * What a `per_page` (or `limit`) above `maxPerPage` gets (E13: unknown): the page cut to the cap
   * (`clamp`), or a 422 (`reject`), as a portal that validates its query parameters would answer.
   */
  perPageOverMax: 'clamp' | 'reject';
  /**
   * What a developer SSO (`ForSection: "portal"`, the developer endpoints) does with an email or
   * SSO key that belongs to an admin account (`super-admin`/`provider-admin`, OrganisationID 0):
   * no public source says (A.3, B, E6). `refuse`: the developer endpoints answer 403 (create) or
   * 404 (update) and `/sso` refuses the nonce. `login`: EDP-SSO's decision tree applied as written
   * (SSO key, else email, with no role condition): the admin account is linked and signed in as
   * the admin it is, and the SSO-key lookup returns it from then on; it is never put in the
   * nonce's team, as an admin has OrganisationID 0 and no teams (A.2).
   */
  adminDeveloperSso: 'refuse' | 'login';
  /**
   * Whether a user set `Active: false` loses the portal sessions they already have. The spec says
   * only that `Active` is "whether the user can log in" (A.2); whether the portal checks it on every
   * request of an open session is unknown. `true`: the next request of such a session is signed
   * out. `false`: open sessions last until the portal's own session timeouts end them
   * (`PORTAL_SESSION_IDLE_TIMEOUT`, `PORTAL_SESSION_LIFETIME`, A.4; not emulated); only new
   * sign-ins are refused.
   */
  deactivationEndsSessions: boolean;
}

export const DEFAULT_CONTRACT: Readonly<PortalContract> = Object.freeze({
  teamsWrite: 'ids',
  unknownTeams: 'ignore',
  maxPerPage: 20,
  perPageOverMax: 'clamp',
  adminDeveloperSso: 'refuse',
  deactivationEndsSessions: false,
});

/** Checks a contract coming from outside (options, environment, the control route). */
export function validateContract(
  input: Partial<PortalContract>,
  base: PortalContract = DEFAULT_CONTRACT,
): PortalContract {
  const out = { ...base, ...input };
  if (out.teamsWrite !== 'ids' && out.teamsWrite !== 'names') {
    throw new EmulatorError('invalid', 'teamsWrite must be ids or names');
  }
  if (out.unknownTeams !== 'reject' && out.unknownTeams !== 'ignore') {
    throw new EmulatorError('invalid', 'unknownTeams must be reject or ignore');
  }
  if (!Number.isSafeInteger(out.maxPerPage) || out.maxPerPage < 1) {
    throw new EmulatorError('invalid', 'maxPerPage must be a positive integer');
  }
  if (out.perPageOverMax !== 'clamp' && out.perPageOverMax !== 'reject') {
    throw new EmulatorError('invalid', 'perPageOverMax must be clamp or reject');
  }
  if (out.adminDeveloperSso !== 'refuse' && out.adminDeveloperSso !== 'login') {
    throw new EmulatorError('invalid', 'adminDeveloperSso must be refuse or login');
  }
  if (typeof out.deactivationEndsSessions !== 'boolean') {
    throw new EmulatorError('invalid', 'deactivationEndsSessions must be true or false');
  }
  return {
    teamsWrite: out.teamsWrite,
    unknownTeams: out.unknownTeams,
    maxPerPage: out.maxPerPage,
    perPageOverMax: out.perPageOverMax,
    adminDeveloperSso: out.adminDeveloperSso,
    deactivationEndsSessions: out.deactivationEndsSessions,
  };
}
