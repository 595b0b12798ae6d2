// Over 300 lines, one job: the fake OpenID provider. Its endpoints (discovery, JWKS, authorize,
// token, userinfo, end session) share one state (keys, codes, tokens, users, knobs, call counts),
// and the knobs each break one rule of oidc-rp.md §1 at the endpoint that owns it.
import { KeyObject, createHash, randomBytes, sign as cryptoSign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK, type JWTPayload, type CryptoKey } from 'jose';

/**
 * The one fake OpenID provider of the e2e tests, the soak and crash runs and the benchmark (issue
 * 18: one fake per external system). A real HTTP server on loopback (node:http + jose), shaped
 * like a Cloudentity workspace (issuer `http://127.0.0.1:<port>/<tenant>/<workspace>`), with
 * discovery, JWKS, an authorize endpoint that redirects straight back with a code (no login
 * page), a token endpoint that checks client authentication and PKCE, and userinfo.
 *
 * - Relying-party tests: every knob below makes it break one rule of oidc-rp.md §1; `calls`
 *   counts requests per endpoint so a test can assert that userinfo was never called after a bad
 *   ID token.
 * - Load (soak, crash, bench): `users` lets many developers sign in at once (the authorize
 *   request's `login_hint` names the subject); codes and access tokens expire and are pruned, so
 *   the IdP's memory stays flat. `fastSigning` signs ES256 ID tokens with node:crypto instead of
 *   jose (the same token at a fraction of the CPU: the bench's IdP shares the cores with the
 *   broker it measures). The bench loads this file through bench/fake-idp.mjs (compiled by swc).
 */

export type SigningAlg = 'RS256' | 'PS256' | 'ES256';

export interface FakeIdpKnobs {
  // discovery
  /** Answer 503 on the discovery URL. */
  discoveryDown: boolean;
  /** The `issuer` the discovery document claims (null: the real one). */
  discoveryIssuer: string | null;
  /** `token_endpoint_auth_methods_supported` (null: field omitted). */
  advertisedAuthMethods: string[] | null;
  /** Omit `userinfo_endpoint` from discovery. */
  noUserinfoEndpoint: boolean;
  /** `authorization_response_iss_parameter_supported` in discovery (RFC 9207). */
  issParameterSupported: boolean;
  /** Publish this endpoint as plain http on a host that is not loopback (`http://idp.example.test/…`). */
  insecureEndpoint:
    'authorization_endpoint' | 'token_endpoint' | 'userinfo_endpoint' | 'jwks_uri' | 'end_session_endpoint' | null;
  // JWKS
  jwksDown: boolean;
  /** Publish the keys without `kid`. */
  kidlessJwks: boolean;
  /** Publish a second RS256 key (so a kid-less RS256 token matches two keys). */
  extraRsaKey: boolean;
  // authorize
  /** Redirect back with `error=<value>` instead of a code. */
  authorizeError: string | null;
  /** The RFC 9207 `iss` callback parameter: the real issuer, another one, or none. */
  issParam: 'correct' | 'wrong' | 'omit';
  // token endpoint
  /** Which client authentication the token endpoint accepts. */
  tokenAuth: 'basic' | 'post' | 'any';
  tokenDelayMs: number;
  tokenDown: boolean;
  /** Pretend the stored code challenge was different (the PKCE check then fails). */
  corruptPkce: boolean;
  // ID token
  idTokenAlg: SigningAlg;
  badSignature: boolean;
  algNone: boolean;
  /** HS256 with the client secret as the key. */
  hs256WithSecret: boolean;
  omitKid: boolean;
  /** Put this `kid` in the ID token header (one the JWKS does not publish), signing with the current key. */
  idTokenKid: string | null;
  /** Sign with a key that is not in the JWKS, under the published kid. */
  foreignKey: boolean;
  iss: string | null;
  aud: string | string[] | null;
  azp: string | null;
  omitIat: boolean;
  omitSub: boolean;
  omitExp: boolean;
  expired: boolean;
  iatInFuture: boolean;
  nonce: 'echo' | 'omit' | 'different';
  /** Leave the ID token out of the token response. */
  omitIdToken: boolean;
  /** Extra or replacing ID token claims. */
  idTokenClaims: Record<string, unknown>;
  // userinfo
  userinfoSub: string | null;
  userinfoDown: boolean;
  userinfoClaims: Record<string, unknown>;
  /** The signed-in user (ID token and userinfo claims). */
  user: Record<string, unknown> & { sub: string };
}

export interface FakeIdpCalls {
  discovery: number;
  jwks: number;
  authorize: number;
  token: number;
  userinfo: number;
  /** Requests answered with an error (bad client, code, PKCE, token, unknown login_hint). */
  refused: number;
  /** Client authentication seen at the last token request. */
  lastTokenAuth: 'basic' | 'post' | 'both' | 'none' | null;
  /** Whether the last token request carried a code_verifier that matched the challenge. */
  lastPkceOk: boolean | null;
  /** The last authorize request's query. */
  lastAuthorize: URLSearchParams | null;
  /** The last userinfo request's Authorization header kind. */
  lastUserinfoAuth: 'bearer' | 'other' | 'none' | null;
}

export interface FakeIdpOptions {
  clientId?: string;
  clientSecret?: string;
  /** Path after the origin, Cloudentity style. */
  tenantPath?: string;
  /** The IPv4 address to listen on and name in the issuer (default 127.0.0.1). */
  host?: string;
  knobs?: Partial<FakeIdpKnobs>;
  /**
   * Many users at once: the authorize request's `login_hint` names the subject (unknown: the
   * callback gets `error=access_denied`). Without it, `knobs.user` signs in.
   */
  users?: Map<string, FakeIdpUser>;
  /** The only redirect URIs the authorize endpoint accepts (exact match); default: any. */
  redirectUris?: string[];
  /** Sign ES256 ID tokens with node:crypto (cheap; for load). Sets the default `idTokenAlg` to ES256. */
  fastSigning?: boolean;
  /**
   * More registered clients beside `clientId` (the bench's comparison systems, issue 19): each with
   * its own secret and redirect URIs; its ID tokens carry its own `aud`.
   */
  clients?: FakeIdpClient[];
}

/** A further client of the `clients` option. */
export interface FakeIdpClient {
  clientId: string;
  clientSecret: string;
  /** The only redirect URIs accepted for this client (exact match); default: any. */
  redirectUris?: string[];
  /** Require PKCE S256 (default true). False: a request without `code_challenge` is accepted; one with it is still checked. */
  pkce?: boolean;
}

/** A user of the `users` option: the claims of its ID token and userinfo. */
export type FakeIdpUser = Record<string, unknown> & { sub: string };

/** `count` subjects `<prefix>-<i>` spread round-robin over `orgs` organisations (for `users`). */
export function fakeIdpUsers(count: number, orgs: number, prefix = 'load'): Map<string, FakeIdpUser> {
  const users = new Map<string, FakeIdpUser>();
  for (let i = 0; i < count; i++) {
    const org = i % orgs;
    const sub = `${prefix}-${i}`;
    users.set(sub, {
      sub,
      email: `${prefix}${i}@org${org}.${prefix}.example`,
      email_verified: true,
      name: `Load User ${i}`,
      given_name: 'Load',
      family_name: `User ${i}`,
      organization_id: `${prefix}-org-${org}`,
      organization_name: `${prefix} organisation ${org}`,
    });
  }
  return users;
}

export interface FakeIdp {
  issuer: string;
  discoverUrl: string;
  clientId: string;
  clientSecret: string;
  calls: FakeIdpCalls;
  /** The `users` option (empty without it). */
  users: Map<string, FakeIdpUser>;
  set(knobs: Partial<FakeIdpKnobs>): void;
  /** Back to the default knobs (keys and counters stay). */
  reset(): void;
  resetCalls(): void;
  /** New signing keys with new kids; the old ones disappear from the JWKS. */
  rotateKeys(): Promise<void>;
  /** Signs any JWT with the current key of `alg` (for access tokens of the admin API). */
  signJwt(claims: JWTPayload, options?: { alg?: SigningAlg; kid?: string | null; foreign?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

const DEFAULT_USER = {
  sub: 'dev-123',
  email: 'ada@example.com',
  email_verified: true,
  name: 'Ada Lovelace',
  given_name: 'Ada',
  family_name: 'Lovelace',
  organization_id: 'org-1',
  organization_name: 'Analytical Engines',
};

function defaults(): FakeIdpKnobs {
  return {
    discoveryDown: false,
    discoveryIssuer: null,
    advertisedAuthMethods: ['client_secret_basic', 'client_secret_post'],
    noUserinfoEndpoint: false,
    issParameterSupported: true,
    insecureEndpoint: null,
    jwksDown: false,
    kidlessJwks: false,
    extraRsaKey: false,
    authorizeError: null,
    issParam: 'correct',
    tokenAuth: 'any',
    tokenDelayMs: 0,
    tokenDown: false,
    corruptPkce: false,
    idTokenAlg: 'RS256',
    badSignature: false,
    algNone: false,
    hs256WithSecret: false,
    omitKid: false,
    idTokenKid: null,
    foreignKey: false,
    iss: null,
    aud: null,
    azp: null,
    omitIat: false,
    omitSub: false,
    omitExp: false,
    expired: false,
    iatInFuture: false,
    nonce: 'echo',
    omitIdToken: false,
    idTokenClaims: {},
    userinfoSub: null,
    userinfoDown: false,
    userinfoClaims: {},
    user: { ...DEFAULT_USER },
  };
}

interface KeyPair {
  kid: string;
  alg: SigningAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(alg: SigningAlg, kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

async function keySet(generation: number): Promise<Record<SigningAlg, KeyPair>> {
  const [RS256, PS256, ES256] = await Promise.all([
    newKey('RS256', `rsa-${generation}`),
    newKey('PS256', `ps-${generation}`),
    newKey('ES256', `ec-${generation}`),
  ]);
  return { RS256, PS256, ES256 };
}

interface CodeGrant {
  /** The client the code was issued to. */
  clientId: string;
  /** The subject of a `users` login; null: `knobs.user`. */
  sub: string | null;
  redirectUri: string;
  codeChallenge: string;
  nonce: string | undefined;
  expiresAt: number;
}

/** Codes and access tokens expire (and are pruned) so a long run keeps the IdP's memory flat. */
const CODE_TTL_MS = 60_000;
const TOKEN_TTL_MS = 5 * 60_000;

/** Map keeps insertion order and entries are inserted with increasing expiry: prune from the front. */
function prune<T extends { expiresAt: number }>(map: Map<string, T>, now: number): void {
  for (const [key, value] of map) {
    if (value.expiresAt > now) break;
    map.delete(key);
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));

export async function startFakeIdp(options: FakeIdpOptions = {}): Promise<FakeIdp> {
  const clientId = options.clientId ?? 'broker-client';
  const clientSecret = options.clientSecret ?? 'broker-secret-0123456789abcdef';
  const tenantPath = options.tenantPath ?? '/acme/developers';
  const base = (): FakeIdpKnobs => ({
    ...defaults(),
    ...(options.fastSigning ? { idTokenAlg: 'ES256' as const } : {}),
    ...options.knobs,
  });
  let knobs: FakeIdpKnobs = base();
  const users = options.users ?? new Map<string, FakeIdpUser>();
  interface Client {
    secret: string;
    redirectUris: Set<string> | null;
    pkce: boolean;
  }
  const clients = new Map<string, Client>([
    [
      clientId,
      { secret: clientSecret, redirectUris: options.redirectUris ? new Set(options.redirectUris) : null, pkce: true },
    ],
  ]);
  for (const c of options.clients ?? []) {
    clients.set(c.clientId, {
      secret: c.clientSecret,
      redirectUris: c.redirectUris ? new Set(c.redirectUris) : null,
      pkce: c.pkce ?? true,
    });
  }
  let generation = 1;
  let keys = await keySet(generation);
  // Generated when a knob asks for them (RSA key generation is slow and most tests never need
  // these), one per algorithm, and started as soon as the knob is set: on a loaded machine three
  // RSA keys made inside the token request could outlast the broker's IdP timeout.
  let extraRsa: Promise<KeyPair> | undefined;
  const foreign = new Map<SigningAlg, Promise<KeyPair>>();
  const foreignKey = (alg: SigningAlg): Promise<KeyPair> => {
    let key = foreign.get(alg);
    if (!key) {
      key = newKey(alg, `foreign-${alg}`);
      foreign.set(alg, key);
    }
    return key;
  };
  const warmKeys = (k: FakeIdpKnobs): Promise<unknown> =>
    Promise.all([
      k.foreignKey ? foreignKey(k.idTokenAlg) : null,
      k.extraRsaKey ? (extraRsa ??= newKey('RS256', 'rsa-extra')) : null,
    ]);
  await warmKeys(knobs);
  const codes = new Map<string, CodeGrant>();
  const accessTokens = new Map<string, { sub: string | null; expiresAt: number }>();
  const calls: FakeIdpCalls = {
    discovery: 0,
    jwks: 0,
    authorize: 0,
    token: 0,
    userinfo: 0,
    refused: 0,
    lastTokenAuth: null,
    lastPkceOk: null,
    lastAuthorize: null,
    lastUserinfoAuth: null,
  };
  let issuer = '';

  const userOf = (sub: string | null) => (sub === null ? knobs.user : (users.get(sub) ?? knobs.user));

  /** A compact ES256 JWS signed with node:crypto: the token jose's SignJWT makes, far cheaper. */
  let fastKey: { key: KeyObject; header: string } | undefined;
  function signFast(claims: JWTPayload): string {
    fastKey ??= {
      key: KeyObject.from(keys.ES256.privateKey),
      header: Buffer.from(JSON.stringify({ alg: 'ES256', kid: keys.ES256.kid, typ: 'JWT' })).toString('base64url'),
    };
    const input = `${fastKey.header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature = cryptoSign('sha256', Buffer.from(input), { key: fastKey.key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  async function idToken(grant: CodeGrant): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims: JWTPayload & Record<string, unknown> = {
      ...userOf(grant.sub),
      iss: knobs.iss ?? issuer,
      aud: knobs.aud ?? grant.clientId,
      iat: knobs.iatInFuture ? now + 3600 : knobs.expired ? now - 600 : now,
      exp: knobs.expired ? now - 300 : now + 300,
      ...knobs.idTokenClaims,
    };
    if (knobs.azp !== null) claims.azp = knobs.azp;
    if (knobs.nonce === 'echo' && grant.nonce !== undefined) claims.nonce = grant.nonce;
    if (knobs.nonce === 'different') claims.nonce = `${grant.nonce ?? 'null'}1`;
    if (knobs.omitIat) delete claims.iat;
    if (knobs.omitSub) delete claims.sub;
    if (knobs.omitExp) delete claims.exp;

    if (knobs.algNone) return new UnsecuredJWT(claims).encode();
    if (knobs.hs256WithSecret) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: keys.RS256.kid })
        .sign(Buffer.from(clientSecret));
    }
    const kid = knobs.omitKid ? null : (knobs.idTokenKid ?? undefined);
    if (options.fastSigning && knobs.idTokenAlg === 'ES256' && kid === undefined && !knobs.foreignKey) {
      if (!knobs.badSignature) return signFast(claims);
    }
    const token = await sign(claims, knobs.idTokenAlg, kid, knobs.foreignKey);
    if (!knobs.badSignature) return token;
    const [h, p, s] = token.split('.');
    const sig = Buffer.from(s, 'base64url');
    for (let i = 0; i < sig.length; i++) sig[i] ^= 0x5a;
    return `${h}.${p}.${sig.toString('base64url')}`;
  }

  async function sign(claims: JWTPayload, alg: SigningAlg, kid: string | null | undefined, useForeign: boolean) {
    const key = useForeign ? await foreignKey(alg) : keys[alg];
    const publishedKid = keys[alg].kid;
    const header = kid === null ? { alg } : { alg, kid: kid ?? publishedKid };
    return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
  }

  async function jwks(): Promise<{ keys: JWK[] }> {
    const list = [keys.RS256.publicJwk, keys.PS256.publicJwk, keys.ES256.publicJwk];
    if (knobs.extraRsaKey) list.push((await (extraRsa ??= newKey('RS256', 'rsa-extra'))).publicJwk);
    return {
      keys: list.map((k) => {
        if (!knobs.kidlessJwks) return k;
        const { kid: _kid, ...rest } = k;
        return rest;
      }),
    };
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', issuer);
    const path = url.pathname.startsWith(tenantPath) ? url.pathname.slice(tenantPath.length) : '';
    switch (path) {
      case '/.well-known/openid-configuration': {
        calls.discovery++;
        if (knobs.discoveryDown) return json(res, 503, { error: 'temporarily_unavailable' });
        const insecure = knobs.insecureEndpoint
          ? { [knobs.insecureEndpoint]: `http://idp.example.test${tenantPath}/${knobs.insecureEndpoint}` }
          : {};
        return json(res, 200, {
          issuer: knobs.discoveryIssuer ?? issuer,
          authorization_endpoint: `${issuer}/oauth2/authorize`,
          token_endpoint: `${issuer}/oauth2/token`,
          ...(knobs.noUserinfoEndpoint ? {} : { userinfo_endpoint: `${issuer}/userinfo` }),
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256', 'PS256', 'ES256'],
          code_challenge_methods_supported: ['S256'],
          scopes_supported: ['openid', 'profile', 'email'],
          authorization_response_iss_parameter_supported: knobs.issParameterSupported,
          ...(knobs.advertisedAuthMethods
            ? { token_endpoint_auth_methods_supported: knobs.advertisedAuthMethods }
            : {}),
          ...insecure,
        });
      }
      case '/.well-known/jwks.json':
        calls.jwks++;
        if (knobs.jwksDown) return json(res, 503, { error: 'down' });
        return json(res, 200, await jwks());
      case '/oauth2/authorize':
        return authorize(url, res);
      case '/oauth2/token':
        return token(req, res);
      case '/userinfo':
        return userinfo(req, res);
      default:
        return json(res, 404, { error: 'not_found' });
    }
  }

  function authorize(url: URL, res: http.ServerResponse): void {
    calls.authorize++;
    const q = url.searchParams;
    calls.lastAuthorize = new URLSearchParams(q);
    const redirectUri = q.get('redirect_uri');
    const bad = (why: string) => {
      calls.refused++;
      json(res, 400, { error: 'invalid_request', error_description: why });
    };
    const requester = q.get('client_id') ?? '';
    const client = clients.get(requester);
    if (!client) return bad('client_id');
    if (!redirectUri || (client.redirectUris && !client.redirectUris.has(redirectUri))) return bad('redirect_uri');
    if (q.get('response_type') !== 'code') return bad('response_type');
    if (!(q.get('scope') ?? '').split(' ').includes('openid')) return bad('scope');
    const pkceSent = q.has('code_challenge') || q.has('code_challenge_method');
    if ((client.pkce || pkceSent) && (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge'))) {
      return bad('pkce');
    }
    const state = q.get('state');
    const back = new URL(redirectUri);
    if (state !== null) back.searchParams.set('state', state);
    if (knobs.issParam !== 'omit') back.searchParams.set('iss', knobs.issParam === 'correct' ? issuer : `${issuer}1`);
    const sub = options.users ? (q.get('login_hint') ?? '') : null;
    if (knobs.authorizeError || (sub !== null && !users.has(sub))) {
      calls.refused++;
      back.searchParams.set('error', knobs.authorizeError ?? 'access_denied');
      back.searchParams.set('error_description', 'The user said no');
    } else {
      const now = Date.now();
      prune(codes, now);
      const code = randomBytes(16).toString('base64url');
      codes.set(code, {
        clientId: requester,
        sub,
        redirectUri,
        codeChallenge: q.get('code_challenge') ?? '',
        nonce: q.get('nonce') ?? undefined,
        expiresAt: now + CODE_TTL_MS,
      });
      back.searchParams.set('code', code);
    }
    res.writeHead(302, { location: back.toString() });
    res.end();
  }

  async function token(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    calls.token++;
    const body = new URLSearchParams(await readBody(req));
    if (knobs.tokenDelayMs > 0) await new Promise((r) => setTimeout(r, knobs.tokenDelayMs));
    if (knobs.tokenDown) {
      res.destroy();
      return;
    }
    const header = req.headers.authorization ?? '';
    let basic: [string, string] | null = null;
    if (header.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      basic = [formDecode(decoded.slice(0, i)), formDecode(decoded.slice(i + 1))];
    }
    const post = body.has('client_secret') ? [body.get('client_id') ?? '', body.get('client_secret') ?? ''] : null;
    calls.lastTokenAuth = basic && post ? 'both' : basic ? 'basic' : post ? 'post' : 'none';
    const refuse = (status: number, body: Record<string, string>) => {
      calls.refused++;
      json(res, status, body);
    };
    const unauthorized = () => refuse(401, { error: 'invalid_client' });
    // RFC 6749 §2.3: a client must not use more than one authentication method.
    if (basic && post) {
      return refuse(400, { error: 'invalid_request', error_description: 'two client auth methods' });
    }
    const creds = basic ?? post;
    if (!creds) return unauthorized();
    if (knobs.tokenAuth === 'basic' && !basic) return unauthorized();
    if (knobs.tokenAuth === 'post' && !post) return unauthorized();
    const client = clients.get(creds[0]);
    if (!client || creds[1] !== client.secret) return unauthorized();
    if (basic && body.has('client_id') && body.get('client_id') !== creds[0]) return unauthorized();
    if (body.get('grant_type') !== 'authorization_code') return refuse(400, { error: 'unsupported_grant_type' });
    const code = body.get('code') ?? '';
    const grant = codes.get(code);
    // Single use: a code is gone once presented.
    codes.delete(code);
    if (!grant || grant.expiresAt <= Date.now()) {
      return refuse(400, { error: 'invalid_grant', error_description: 'code' });
    }
    if (grant.clientId !== creds[0]) return refuse(400, { error: 'invalid_grant', error_description: 'client' });
    if (body.get('redirect_uri') !== grant.redirectUri) return refuse(400, { error: 'invalid_grant' });
    if (grant.codeChallenge !== '' || body.has('code_verifier')) {
      const verifier = body.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      calls.lastPkceOk = verifier.length >= 43 && challenge === grant.codeChallenge && !knobs.corruptPkce;
      if (!calls.lastPkceOk) return refuse(400, { error: 'invalid_grant', error_description: 'PKCE' });
    } else {
      calls.lastPkceOk = null;
    }
    const accessToken = randomBytes(24).toString('base64url');
    prune(accessTokens, Date.now());
    accessTokens.set(accessToken, { sub: grant.sub, expiresAt: Date.now() + TOKEN_TTL_MS });
    return json(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'openid profile email',
      ...(knobs.omitIdToken ? {} : { id_token: await idToken(grant) }),
    });
  }

  function userinfo(req: http.IncomingMessage, res: http.ServerResponse): void {
    calls.userinfo++;
    const header = req.headers.authorization ?? '';
    calls.lastUserinfoAuth = header.startsWith('Bearer ') ? 'bearer' : header ? 'other' : 'none';
    if (knobs.userinfoDown) return json(res, 503, { error: 'down' });
    const entry = header.startsWith('Bearer ') ? accessTokens.get(header.slice(7)) : undefined;
    if (!entry || entry.expiresAt <= Date.now()) {
      calls.refused++;
      return json(res, 401, { error: 'invalid_token' });
    }
    const user = userOf(entry.sub);
    return json(res, 200, { ...user, ...knobs.userinfoClaims, sub: knobs.userinfoSub ?? user.sub });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  issuer = `http://${host}:${port}${tenantPath}`;

  return {
    issuer,
    discoverUrl: `${issuer}/.well-known/openid-configuration`,
    clientId,
    clientSecret,
    calls,
    users,
    set(patch) {
      knobs = { ...knobs, ...patch };
      void warmKeys(knobs);
    },
    reset() {
      knobs = base();
    },
    resetCalls() {
      Object.assign(calls, {
        discovery: 0,
        jwks: 0,
        authorize: 0,
        token: 0,
        userinfo: 0,
        refused: 0,
        lastTokenAuth: null,
        lastPkceOk: null,
        lastAuthorize: null,
        lastUserinfoAuth: null,
      });
    },
    async rotateKeys() {
      generation++;
      keys = await keySet(generation);
      fastKey = undefined;
    },
    signJwt(claims, opts = {}) {
      return sign(claims, opts.alg ?? 'RS256', opts.kid, opts.foreign ?? false);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
