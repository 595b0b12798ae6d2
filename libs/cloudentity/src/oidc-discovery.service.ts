import { DomainError, LruCache } from '@app/common';
import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { IdpHttpClient, IdpUnreachableError, parseJsonObject } from './idp-http.client.js';

/** ID token / access token signature algorithms we accept. Never `none`, never HMAC. */
export const ALLOWED_JWS_ALGORITHMS = ['RS256', 'PS256', 'ES256'] as const;

/** The fields of an OpenID Provider's metadata the broker uses, validated. */
export interface DiscoveryDocument {
  readonly issuer: string;
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
  readonly jwks_uri: string;
  readonly userinfo_endpoint?: string;
  readonly token_endpoint_auth_methods_supported?: readonly string[];
  readonly id_token_signing_alg_values_supported?: readonly string[];
}

const WELL_KNOWN = '/.well-known/openid-configuration';
/** After a failed refresh a stale document is served this long before the next attempt. */
const STALE_RETRY_MS = 30_000;
const MAX_ENTRIES = 256;

interface Entry {
  doc: DiscoveryDocument;
  freshUntil: number;
}

/** A configuration problem (not an outage): the document must not be used, even a stale copy. */
class InvalidDiscoveryError extends Error {}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/**
 * The issuer a DiscoverURL names: the URL without `/.well-known/openid-configuration`
 * (OpenID Connect Discovery §4). Throws when the URL is not a well-known URL.
 */
export function issuerFromDiscoverUrl(discoverUrl: string): string {
  let url: URL;
  try {
    url = new URL(discoverUrl);
  } catch {
    throw new DomainError('discovery_failed', 'DiscoverURL is not a URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') {
    throw new DomainError('discovery_failed', 'DiscoverURL must be an http(s) URL without query or fragment');
  }
  // The issuer is compared as a string, so it is cut from the URL as written, not normalised.
  const trimmed = discoverUrl.replace(/\/+$/, '');
  if (!trimmed.endsWith(WELL_KNOWN)) {
    throw new DomainError('discovery_failed', `DiscoverURL must end with ${WELL_KNOWN}`);
  }
  return trimmed.slice(0, -WELL_KNOWN.length);
}

function validate(raw: Record<string, unknown>, expectedIssuer: string): DiscoveryDocument {
  // Discovery §4.3: the issuer must be the one the well-known URL was derived from. Issuers with
  // a terminating slash (e.g. Auth0's) publish at `{issuer minus slash}/.well-known/…`.
  if (raw.issuer !== expectedIssuer && raw.issuer !== `${expectedIssuer}/`) {
    throw new InvalidDiscoveryError('the discovery document names another issuer than its DiscoverURL');
  }
  for (const field of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    if (!isHttpUrl(raw[field])) throw new InvalidDiscoveryError(`the discovery document has no valid ${field}`);
  }
  if (raw.userinfo_endpoint !== undefined && !isHttpUrl(raw.userinfo_endpoint)) {
    throw new InvalidDiscoveryError('the discovery document has an invalid userinfo_endpoint');
  }
  const stringList = (field: string): readonly string[] | undefined => {
    const value = raw[field];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw new InvalidDiscoveryError(`the discovery document has an invalid ${field}`);
    }
    return Object.freeze([...value]);
  };
  const authMethods = stringList('token_endpoint_auth_methods_supported');
  const algs = stringList('id_token_signing_alg_values_supported');
  if (algs && !algs.some((alg) => (ALLOWED_JWS_ALGORITHMS as readonly string[]).includes(alg))) {
    throw new InvalidDiscoveryError(`the provider signs ID tokens with none of ${ALLOWED_JWS_ALGORITHMS.join(', ')}`);
  }
  return Object.freeze({
    issuer: raw.issuer,
    authorization_endpoint: raw.authorization_endpoint as string,
    token_endpoint: raw.token_endpoint as string,
    jwks_uri: raw.jwks_uri as string,
    userinfo_endpoint: raw.userinfo_endpoint,
    token_endpoint_auth_methods_supported: authMethods,
    id_token_signing_alg_values_supported: algs,
  });
}

/**
 * OpenID Provider metadata, fetched once per DiscoverURL and cached for
 * config.oidc.discoveryTtlSeconds; never fetched per request. Concurrent misses share one fetch.
 * A failure is not cached, so a broker started while the IdP was down heals on a later request.
 * Once a document has been validated, an expired copy keeps being served while a refresh runs in
 * the background, and while the IdP is unreachable; a refresh that turns up an invalid document
 * (e.g. another issuer) drops the entry.
 */
@Injectable()
export class OidcDiscoveryService {
  private readonly logger = new Logger(OidcDiscoveryService.name);
  private readonly cache = new LruCache<string, Entry>(MAX_ENTRIES);
  private readonly inflight = new Map<string, Promise<DiscoveryDocument>>();

  constructor(
    private readonly http: IdpHttpClient,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  /** The validated document for a DiscoverURL; throws DomainError('discovery_failed'). */
  async get(discoverUrl: string): Promise<DiscoveryDocument> {
    const entry = this.cache.get(discoverUrl);
    if (entry) {
      if (Date.now() >= entry.freshUntil && !this.inflight.has(discoverUrl)) {
        this.fetch(discoverUrl).catch(() => undefined);
      }
      return entry.doc;
    }
    return this.fetch(discoverUrl);
  }

  private fetch(discoverUrl: string): Promise<DiscoveryDocument> {
    const pending = this.inflight.get(discoverUrl);
    if (pending) return pending;
    const promise = this.load(discoverUrl).finally(() => this.inflight.delete(discoverUrl));
    this.inflight.set(discoverUrl, promise);
    return promise;
  }

  private async load(discoverUrl: string): Promise<DiscoveryDocument> {
    const expectedIssuer = issuerFromDiscoverUrl(discoverUrl);
    try {
      const res = await this.http.request({
        method: 'GET',
        url: discoverUrl,
        headers: { accept: 'application/json' },
      });
      if (res.status !== 200) throw new IdpUnreachableError('network');
      const raw = parseJsonObject(res.body);
      if (!raw) throw new InvalidDiscoveryError('the discovery document is not a JSON object');
      const doc = validate(raw, expectedIssuer);
      this.cache.set(discoverUrl, { doc, freshUntil: Date.now() + this.config.oidc.discoveryTtlSeconds * 1000 });
      return doc;
    } catch (error: unknown) {
      if (error instanceof InvalidDiscoveryError) {
        this.cache.delete(discoverUrl);
        this.logger.error(`Refusing the identity provider at ${discoverUrl}: ${error.message}`);
        throw new DomainError('discovery_failed', `The identity provider's configuration is invalid: ${error.message}`);
      }
      const stale = this.cache.get(discoverUrl);
      if (stale) {
        stale.freshUntil = Date.now() + Math.min(STALE_RETRY_MS, this.config.oidc.discoveryTtlSeconds * 1000);
        this.logger.warn(`Discovery refresh failed for ${discoverUrl}; serving the cached document`);
        return stale.doc;
      }
      this.logger.warn(`Discovery failed for ${discoverUrl} (${describe(error)})`);
      throw new DomainError('discovery_failed', 'The identity provider could not be reached for its configuration');
    }
  }
}

function describe(error: unknown): string {
  return error instanceof IdpUnreachableError ? error.reason : 'bad response';
}
