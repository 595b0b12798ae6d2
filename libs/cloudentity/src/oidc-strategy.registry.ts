import { oidcConfig, type OidcConfig } from '@app/config';
import { Inject, Injectable } from '@nestjs/common';
import { HardenedOidcStrategy, type StrategyDependencies } from './hardened-oidc.strategy.js';
import { IdpHttpClient } from './idp-http.client.js';
import { JwksCache } from './jwks.cache.js';
import { LoginStateStore } from './login-state.store.js';
import { OidcDiscoveryService } from './oidc-discovery.service.js';
import type { OidcClientSettings } from './oidc-settings.js';
import { LruCache } from '@app/common';

/** At most this many strategies are kept; the least recently used go first. */
export const MAX_STRATEGIES = 512;

interface Entry {
  strategy: HardenedOidcStrategy;
  /** The settings the strategy was built from, as a string: a safety net if a cacheKey is reused. */
  fingerprint: string;
  /** The settings object last seen for this key (identity check before the fingerprint). */
  settings: OidcClientSettings;
}

/**
 * One HardenedOidcStrategy per (profile, provider), built lazily from the cached discovery
 * document and reused for every login; never constructed per request. Keyed by the settings'
 * cacheKey (which changes whenever the profile does) in a bounded LRU, so edited or deleted
 * profiles fall out instead of leaking. A refreshed discovery document (a new object from
 * OidcDiscoveryService) rebuilds the strategy with the new endpoints.
 */
@Injectable()
export class OidcStrategyRegistry {
  private readonly strategies = new LruCache<string, Entry>(MAX_STRATEGIES);
  private readonly deps: StrategyDependencies;
  private built = 0;

  constructor(
    private readonly discovery: OidcDiscoveryService,
    stateStore: LoginStateStore,
    http: IdpHttpClient,
    jwks: JwksCache,
    @Inject(oidcConfig.KEY) config: OidcConfig,
  ) {
    this.deps = { stateStore, http, jwks, clockToleranceSeconds: config.clockToleranceSeconds };
  }

  /** Strategies built since start (diagnostics and tests: it grows only when profiles or discovery change). */
  get constructedCount(): number {
    return this.built;
  }

  get size(): number {
    return this.strategies.size;
  }

  /** The strategy for these settings; throws DomainError('discovery_failed') when the IdP's metadata is unusable. */
  async get(settings: OidcClientSettings): Promise<HardenedOidcStrategy> {
    const doc = await this.discovery.get(settings.discoverUrl, { allowInsecureHttp: settings.allowInsecureHttp });
    const key = `${settings.cacheKey}\u0000${settings.profileId}\u0000${settings.providerName}`;
    const hit = this.strategies.get(key);
    // Callers that keep one settings object per profile version (the broker does) skip the
    // fingerprint on the login path; a new object with the same key is compared field by field.
    if (hit && hit.strategy.discovery === doc && hit.settings === settings) {
      return hit.strategy;
    }
    const fingerprint = JSON.stringify([
      settings.clientId,
      settings.clientSecret,
      settings.discoverUrl,
      settings.scopes,
      settings.skipUserInfoRequest,
      settings.callbackUrl,
      settings.tokenEndpointAuthMethod ?? null,
      settings.allowInsecureHttp === true,
    ]);
    if (hit && hit.strategy.discovery === doc && hit.fingerprint === fingerprint) {
      this.strategies.set(key, { ...hit, settings });
      return hit.strategy;
    }
    const strategy = new HardenedOidcStrategy(
      Object.freeze({ ...settings, scopes: [...settings.scopes] }),
      doc,
      this.deps,
    );
    this.built++;
    this.strategies.set(key, { strategy, fingerprint, settings });
    return strategy;
  }
}
