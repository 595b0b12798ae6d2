import type { SealedToken } from '@app/developers';

/**
 * The port through which deprovisioning revokes the Tyk keys and OAuth tokens the broker's token
 * actions issued to a developer. The broker binds it (it knows the profiles that issue tokens);
 * the outbox worker calls it and audits each revocation as `token.revoked`.
 */
export const TOKEN_REVOKER = Symbol('TOKEN_REVOKER');

export interface TokenRevoker {
  /**
   * Revokes every token still on record for this IdP subject and forgets it. `revoked` (the
   * audit) is awaited after each revocation and before the token is forgotten, so a later failure
   * (another profile's revocation) loses no audit: what was revoked, audited and forgotten is not
   * revoked twice, and a token whose audit failed is still on record for the retry. Throws when a
   * revocation failed (the outbox retries).
   */
  revokeFor(subject: string, revoked: (r: { profileId: string }) => Promise<void>): Promise<void>;
  /**
   * Revokes tokens an erasure took out of the store (so nothing is left to forget). A token
   * whose profile is gone or no longer issues tokens, or sealed under another session secret,
   * cannot be revoked and is skipped. `revoked` is awaited after each revocation; throws when a
   * revocation failed (the outbox retries them all: revoking twice is harmless).
   */
  revokeSealed(tokens: SealedToken[], revoked: (r: { profileId: string }) => Promise<void>): Promise<void>;
}
