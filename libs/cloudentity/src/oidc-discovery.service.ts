import { DomainError, LruCache, isAllowedIdpUrl } from '@app/common';
import { oidcConfig, type OidcConfig } from '@app/config';
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
  /** RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), when the provider offers it. */
  readonly end_session_endpoint?: string;
  readonly token_endpoint_auth_methods_supported?: readonly string[];
  readonly id_token_signing_alg_values_supported?: readonly string[];
  /** RFC 9207: the provider adds `iss` to every authorization response (then it is required). */
  readonly authorization_response_iss_parameter_supported?: boolean;
}

/**
 * Why an authorization response's RFC 9207 `iss` parameter (the callback's raw query value) is
 * refused for this provider, or null when it is fine: one naming another issuer is a mix-up
 * attack, and a missing one from a provider that says it always sends it is as suspect. A
 * repeated or nested parameter (not one string) is refused too. Both sign-ins (developer login
 * and the security console) check it before anything else of the callback.
 */
export function authorizationResponseIssuerRejected(
  iss: unknown,
  doc: Pick<DiscoveryDocument, 'issuer' | 'authorization_response_iss_parameter_supported'>,
): string | null {
  if (iss === undefined) {
    return doc.authorization_response_iss_parameter_supported === true
      ? 'The authorization response has no iss although the provider always sends it'
      : null;
  }
  return typeof iss === 'string' && iss === doc.issuer
    ? null
    : 'The authorization response comes from another issuer (iss)';
}

/** How a DiscoverURL may be reached. */
export interface DiscoveryOptions {
  /**
   * Allow plain http to hosts that are not loopback, for the DiscoverURL and every endpoint
   * of the document (a profile's `ProviderConfig.AllowInsecureHttp`). Off: https only, except
   * loopback hosts.
   */
  allowInsecureHttp?: boolean;
}

/** Endpoints of the document that must be https (or loopback) when present. */
const ENDPOINT_FIELDS = [
  'authorization_endpoint',
  'token_endpoint',
  'jwks_uri',
  'userinfo_endpoint',
  'end_session_endpoint',
] as const;
const INSECURE_HINT =
  'plain http to a host that is not loopback (ProviderConfig.AllowInsecureHttp, or BROKER_ADMIN_OIDC_ALLOW_INSECURE_HTTP for the admin issuer, allows it)';

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

function validate(raw: Record<string, unknown>, expectedIssuer: string, allowInsecureHttp: boolean): DiscoveryDocument {
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
  // Whoever is on a plain-http path to the token endpoint or the JWKS can sign anyone in.
  for (const field of ENDPOINT_FIELDS) {
    const value = raw[field];
    if (value === undefined || value === null) continue;
    if (!isHttpUrl(value)) throw new InvalidDiscoveryError(`the discovery document has an invalid ${field}`);
    if (!isAllowedIdpUrl(value, allowInsecureHttp)) {
      throw new InvalidDiscoveryError(`the discovery document's ${field} is ${INSECURE_HINT}`);
    }
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
    end_session_endpoint: typeof raw.end_session_endpoint === 'string' ? raw.end_session_endpoint : undefined,
    token_endpoint_auth_methods_supported: authMethods,
    id_token_signing_alg_values_supported: algs,
    authorization_response_iss_parameter_supported: raw.authorization_response_iss_parameter_supported === true,
  });
}

/**
 * OpenID Provider metadata, fetched once per DiscoverURL and cached for
 * config.discoveryTtlSeconds; never fetched per request. Concurrent misses share one fetch.
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
    @Inject(oidcConfig.KEY) private readonly config: OidcConfig,
  ) {}

  /**
   * The validated document for a DiscoverURL; throws DomainError('discovery_failed'). Plain http
   * to a host that is not loopback is refused (the URL and every endpoint in the document)
   * unless `options.allowInsecureHttp`.
   */
  async get(discoverUrl: string, options: DiscoveryOptions = {}): Promise<DiscoveryDocument> {
    const allowInsecureHttp = options.allowInsecureHttp === true;
    // Cached per transport rule too: a document allowed for one profile is not for another.
    const key = allowInsecureHttp ? `insecure-ok ${discoverUrl}` : discoverUrl;
    const entry = this.cache.get(key);
    if (entry) {
      if (Date.now() >= entry.freshUntil && !this.inflight.has(key)) {
        this.fetch(key, discoverUrl, allowInsecureHttp).catch(() => undefined);
      }
      return entry.doc;
    }
    return this.fetch(key, discoverUrl, allowInsecureHttp);
  }

  private fetch(key: string, discoverUrl: string, allowInsecureHttp: boolean): Promise<DiscoveryDocument> {
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const promise = this.load(key, discoverUrl, allowInsecureHttp).finally(() => this.inflight.delete(key));
    this.inflight.set(key, promise);
    return promise;
  }

  private async load(key: string, discoverUrl: string, allowInsecureHttp: boolean): Promise<DiscoveryDocument> {
    const expectedIssuer = issuerFromDiscoverUrl(discoverUrl);
    try {
      if (!isAllowedIdpUrl(discoverUrl, allowInsecureHttp)) {
        throw new InvalidDiscoveryError(`the DiscoverURL is ${INSECURE_HINT}`);
      }
      const res = await this.http.request({
        method: 'GET',
        url: discoverUrl,
        headers: { accept: 'application/json' },
      });
      if (res.status !== 200) throw new IdpUnreachableError('network');
      const raw = parseJsonObject(res.body);
      if (!raw) throw new InvalidDiscoveryError('the discovery document is not a JSON object');
      const doc = validate(raw, expectedIssuer, allowInsecureHttp);
      this.cache.set(key, { doc, freshUntil: Date.now() + this.config.discoveryTtlSeconds * 1000 });
      return doc;
    } catch (error: unknown) {
      if (error instanceof InvalidDiscoveryError) {
        this.cache.delete(key);
        this.logger.error(`Refusing the identity provider at ${discoverUrl}: ${error.message}`);
        throw new DomainError('discovery_failed', `The identity provider's configuration is invalid: ${error.message}`);
      }
      const stale = this.cache.get(key);
      if (stale) {
        stale.freshUntil = Date.now() + Math.min(STALE_RETRY_MS, this.config.discoveryTtlSeconds * 1000);
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
