import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import { IdpHttpClient } from './idp-http.client.js';
import { LruCache } from '@app/common';

/** The signing keys could not be fetched (IdP down, timeout, non-200): an outage, not a forgery. */
export class KeySetUnavailableError extends Error {
  constructor() {
    super('the identity provider signing keys could not be fetched');
    this.name = 'KeySetUnavailableError';
  }
}

/**
 * An unknown `kid` refetches the key set at most once per this many ms (jose's default is 30 s,
 * which would reject every login for half a minute after a key rotation). Small enough for a
 * rotation to work within seconds, large enough that junk `kid`s cannot turn every request into
 * a JWKS fetch.
 */
export const JWKS_COOLDOWN_MS = 1000;
/** Known keys are refreshed in the background this often, so a revoked key stops verifying. */
export const JWKS_REFRESH_MS = 5 * 60 * 1000;
const MAX_ENTRIES = 256;

interface Entry {
  getKey: ReturnType<typeof createRemoteJWKSet>;
  refreshedAt: number;
}

/**
 * One remote key set per `jwks_uri` (not per request, not per profile), shared by ID token and
 * admin token verification.
 *
 * jose's remote set throws away its keys once they are older than `cacheMaxAge` and then awaits a
 * fetch: with the JWKS endpoint down, every login would fail although the cached keys are still
 * good. So the jose cache never expires (`cacheMaxAge: Infinity`) and we refresh it in the
 * background instead; jose only swaps in a new key set after a successful fetch, so a failed
 * refresh leaves the cached keys in place. Unknown `kid`s still trigger jose's refetch (after
 * JWKS_COOLDOWN_MS). Fetches go through IdpHttpClient (timeout, TLS per configuration).
 */
@Injectable()
export class JwksCache {
  private readonly logger = new Logger(JwksCache.name);
  private readonly sets = new LruCache<string, Entry>(MAX_ENTRIES);
  private readonly fetchJwks: FetchImplementation;

  constructor(
    private readonly http: IdpHttpClient,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {
    this.fetchJwks = async (url, options) => {
      let res;
      try {
        res = await this.http.request({
          method: 'GET',
          url,
          headers: { accept: 'application/json, application/jwk-set+json' },
          signal: options.signal,
        });
      } catch {
        throw new KeySetUnavailableError();
      }
      if (res.status !== 200) throw new KeySetUnavailableError();
      return new Response(res.body, { status: 200, headers: { 'content-type': 'application/json' } });
    };
  }

  /** The key resolver for jose's jwtVerify. */
  keySet(jwksUri: string): JWTVerifyGetKey {
    let entry = this.sets.get(jwksUri);
    if (!entry) {
      entry = {
        getKey: createRemoteJWKSet(new URL(jwksUri), {
          cooldownDuration: JWKS_COOLDOWN_MS,
          cacheMaxAge: Infinity,
          timeoutDuration: this.config.oidc.timeoutMs,
          [customFetch]: this.fetchJwks,
        }),
        refreshedAt: Date.now(),
      };
      this.sets.set(jwksUri, entry);
    }
    const current = entry;
    return async (header, token) => {
      this.refreshInBackground(jwksUri, current);
      return current.getKey(header, token);
    };
  }

  private refreshInBackground(jwksUri: string, entry: Entry): void {
    if (Date.now() - entry.refreshedAt < JWKS_REFRESH_MS || entry.getKey.reloading || !entry.getKey.jwks()) {
      return;
    }
    entry.refreshedAt = Date.now();
    entry.getKey.reload().catch(() => {
      this.logger.warn(`Refreshing the signing keys at ${jwksUri} failed; keeping the cached keys`);
    });
  }
}
