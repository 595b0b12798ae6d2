import { oidcConfig, type OidcConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  createRemoteJWKSet,
  customFetch,
  errors,
  jwksCache,
  type JWKSCacheInput,
  type FetchImplementation,
  type JWTVerifyGetKey,
} from 'jose';
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
 * The key set is fetched at most once per this many ms for unknown `kid`s (jose's default is
 * 30 s). An unknown `kid` inside this window waits for its end once and then refetches (see
 * keySet), so a rotation costs a login at most this long and never fails it, while junk `kid`s
 * still cannot turn every request into a JWKS fetch.
 */
export const JWKS_COOLDOWN_MS = 1000;
/** Known keys are refreshed in the background this often, so a revoked key stops verifying. */
export const JWKS_REFRESH_MS = 5 * 60 * 1000;
const MAX_ENTRIES = 256;

interface Entry {
  getKey: ReturnType<typeof createRemoteJWKSet>;
  refreshedAt: number;
  /** Filled by jose: `uat` is when the key set was last fetched. */
  cache: JWKSCacheInput;
  /** The one wait-then-refetch for unknown `kid`s inside the cooldown (single flight). */
  pendingRefetch?: Promise<void>;
}

/**
 * One remote key set per `jwks_uri` (not per request, not per profile), shared by ID token and
 * admin token verification.
 *
 * jose's remote set throws away its keys once they are older than `cacheMaxAge` and then awaits a
 * fetch: with the JWKS endpoint down, every login would fail although the cached keys are still
 * good. So the jose cache never expires (`cacheMaxAge: Infinity`) and we refresh it in the
 * background instead; jose only swaps in a new key set after a successful fetch, so a failed
 * refresh leaves the cached keys in place. An unknown `kid` refetches the set (jose), and
 * inside the JWKS_COOLDOWN_MS after the last fetch, where jose refuses it, waits for the
 * cooldown to end and refetches once, shared by every request waiting on that key set. Fetches
 * go through IdpHttpClient (timeout, TLS per configuration).
 */
@Injectable()
export class JwksCache {
  private readonly logger = new Logger(JwksCache.name);
  private readonly sets = new LruCache<string, Entry>(MAX_ENTRIES);
  private readonly fetchJwks: FetchImplementation;

  constructor(
    private readonly http: IdpHttpClient,
    @Inject(oidcConfig.KEY) private readonly config: OidcConfig,
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
      const cache: JWKSCacheInput = {};
      entry = {
        getKey: createRemoteJWKSet(new URL(jwksUri), {
          cooldownDuration: JWKS_COOLDOWN_MS,
          cacheMaxAge: Infinity,
          timeoutDuration: this.config.timeoutMs,
          [customFetch]: this.fetchJwks,
          [jwksCache]: cache,
        }),
        refreshedAt: Date.now(),
        cache,
      };
      this.sets.set(jwksUri, entry);
    }
    const current = entry;
    return async (header, token) => {
      this.refreshInBackground(jwksUri, current);
      try {
        return await current.getKey(header, token);
      } catch (error: unknown) {
        // jose refuses an unknown kid without refetching inside the cooldown: a key rotated right
        // after the last fetch (e.g. the second login after start-up). Wait once, refetch, retry;
        // a kid still unknown after that is refused.
        if (!(error instanceof errors.JWKSNoMatchingKey) || !current.getKey.coolingDown) throw error;
        await this.refetchAfterCooldown(current);
        return current.getKey(header, token);
      }
    };
  }

  /** Waits until the cooldown since the last fetch is over, then refetches; one per key set at a time. */
  private refetchAfterCooldown(entry: Entry): Promise<void> {
    entry.pendingRefetch ??= (async () => {
      const since = Date.now() - ('uat' in entry.cache ? entry.cache.uat : 0);
      const wait = Math.min(JWKS_COOLDOWN_MS, Math.max(0, JWKS_COOLDOWN_MS - since));
      await new Promise((resolve) => setTimeout(resolve, wait));
      await entry.getKey.reload();
    })().finally(() => {
      entry.pendingRefetch = undefined;
    });
    return entry.pendingRefetch;
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
