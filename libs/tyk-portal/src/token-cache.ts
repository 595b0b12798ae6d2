import { LruCache } from '@app/common';
import { Injectable } from '@nestjs/common';

/**
 * TIB's identity cache (Redis keys `identity-cache.{profileId}-{ssoKey}`): the last token the
 * token actions issued to a user through a profile, so the next login revokes it first. The lib
 * has no database; the broker binds a Postgres implementation to {@link TOKEN_CACHE}. Values are
 * Tyk keys or OAuth access tokens: an implementation must not log them.
 */
export interface TokenCache {
  get(key: string): Promise<string | null>;
  /**
   * Stores the token, replacing the previous one. `ttlSeconds` is the token's own lifetime when
   * known: past it there is nothing left to revoke, so the entry may go (TIB keeps it forever).
   * `owner` says whose token it is, so that erasing the developer can find and remove it.
   */
  set(key: string, value: string, ttlSeconds: number | undefined, owner: TokenOwner): Promise<void>;
}

/** Whose token a cache entry holds: the profile that issued it and the caller's developer id. */
export interface TokenOwner {
  profileId: string;
  /** The broker's developer id (IdentityActionInput.developerId); null when the caller has none. */
  developerId: string | null;
}

/** Entries kept by the in-memory cache; past it the least recently used user is forgotten. */
const MAX_ENTRIES = 10_000;

/**
 * Process-local, bounded TokenCache for the lib's own tests and embedding without a database. Not
 * shared between broker instances, and lost on restart: the broker binds the Postgres one.
 */
@Injectable()
export class InMemoryTokenCache implements TokenCache {
  private readonly values = new LruCache<string, { value: string; until: number }>(MAX_ENTRIES);

  get(key: string): Promise<string | null> {
    const hit = this.values.get(key);
    if (hit && hit.until <= Date.now()) this.values.delete(key);
    return Promise.resolve(hit && hit.until > Date.now() ? hit.value : null);
  }

  set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    const until = ttlSeconds !== undefined && ttlSeconds > 0 ? Date.now() + ttlSeconds * 1000 : Infinity;
    this.values.set(key, { value, until });
    return Promise.resolve();
  }
}
