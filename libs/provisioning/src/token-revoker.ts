import type { SealedToken } from '@app/developers';

/**
 * The port through which deprovisioning revokes the Tyk keys and OAuth tokens the broker's token
 * actions issued to a developer. The broker binds it (it knows the profiles that issue tokens);
 * the outbox worker calls it and audits each report as `token.revoked`.
 */
export const TOKEN_REVOKER = Symbol('TOKEN_REVOKER');

/**
 * Why a token on record cannot be revoked. None of them passes with time, so none makes the
 * outbox retry: `no_dashboard_credential` (the issuing profile has none to revoke with),
 * `profile_gone` (the profile was deleted or no longer issues tokens), `token_unreadable` (sealed
 * under another session secret).
 */
export type UnrevokableReason = 'no_dashboard_credential' | 'profile_gone' | 'token_unreadable';

/** One token's fate: revoked at the Dashboard, or not (and why): the worker audits either. */
export type RevocationReport =
  { profileId: string; outcome: 'success' } | { profileId: string; outcome: 'failure'; reason: UnrevokableReason };

export interface TokenRevoker {
  /**
   * Revokes every token still on record for this IdP subject (the developer's) and forgets it.
   * `report` (the audit) is awaited after each revocation and before the token is forgotten, so
   * a later failure (another profile's revocation) loses no audit: what was revoked, audited and
   * forgotten is not revoked twice, and a token whose audit failed is still on record for the
   * retry. A token that cannot be revoked is reported as a failure and kept on record (a later
   * deprovisioning, e.g. an erasure, tries it again; it is purged at its own expiry). Throws when a
   * revocation failed (the outbox retries).
   */
  revokeFor(subject: string, developerId: string, report: (r: RevocationReport) => Promise<void>): Promise<void>;
  /**
   * Revokes tokens an erasure took out of the store (so nothing is left to forget). A token that
   * cannot be revoked is reported as a failure and not retried: the erasure completes, and the
   * failure event is what remains of it. `report` is awaited after each token; throws when a
   * revocation failed (the outbox retries them all: revoking twice is harmless).
   */
  revokeSealed(tokens: SealedToken[], report: (r: RevocationReport) => Promise<void>): Promise<void>;
}
