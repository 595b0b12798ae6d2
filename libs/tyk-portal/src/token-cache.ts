import { Injectable } from '@nestjs/common';

/**
 * TIB's identity cache (Redis keys `identity-cache.{profileId}-{ssoKey}`): the last token the
 * token actions issued to a user through a profile, so the next login revokes it first. The lib
 * has no database; the broker binds a Postgres implementation to {@link TOKEN_CACHE}. Values are
 * Tyk keys or OAuth access tokens: an implementation must not log them.
 */
export interface TokenCache {
  get(key: string): Promise<string | null>;
  /** Stores without expiry, as TIB does. */
  set(key: string, value: string): Promise<void>;
}

/**
 * Process-local TokenCache for tests and single-instance development. Not shared between broker
 * instances, and lost on restart: production binds the Postgres one.
 */
@Injectable()
export class InMemoryTokenCache implements TokenCache {
  private readonly values = new Map<string, string>();

  get(key: string): Promise<string | null> {
    return Promise.resolve(this.values.get(key) ?? null);
  }

  set(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    return Promise.resolve();
  }
}
