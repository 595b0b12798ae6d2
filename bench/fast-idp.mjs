// A fast OpenID provider for the benchmark: node:http + jose, in the bench process. It behaves
// like a Cloudentity workspace as far as the broker can tell (discovery, ES256 JWKS, PKCE S256,
// client_secret_basic, ID tokens with the nonce, userinfo) but has no login page: the authorize
// endpoint redirects straight back with a code for the user named by `login_hint`, so the
// benchmark measures the broker and not a browser form. Codes and access tokens live in bounded
// in-memory maps with a short lifetime.
import { KeyObject, createHash, randomBytes, sign, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';

const CODE_TTL_MS = 60_000;
const TOKEN_TTL_MS = 5 * 60_000;
const MAX_ENTRIES = 200_000;

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function safeEqual(a, b) {
  const ab = Buffer.from(String(a));
  const bb = Buffer.from(String(b));
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** RFC 6749 §2.3.1: the client id and secret are form-urlencoded before they are joined. */
function parseBasic(header) {
  if (typeof header !== 'string' || !header.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const dec = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
  return { id: dec(decoded.slice(0, colon)), secret: dec(decoded.slice(colon + 1)) };
}

/** Drops expired entries, and the oldest ones beyond MAX_ENTRIES (Map keeps insertion order). */
function prune(map, now) {
  for (const [key, value] of map) {
    if (value.expiresAt > now && map.size <= MAX_ENTRIES) break;
    map.delete(key);
  }
}

/**
 * The users the IdP knows: `count` subjects spread round-robin over `orgs` organisations.
 * Subject `bench-user-<i>`, a verified email, names, and the Cloudentity organisation claims.
 */
export function benchUsers(count, orgs) {
  const users = new Map();
  for (let i = 0; i < count; i++) {
    const org = i % orgs;
    const sub = `bench-user-${i}`;
    users.set(sub, {
      sub,
      email: `user${i}@org${org}.bench.example`,
      email_verified: true,
      name: `Bench User ${i}`,
      given_name: 'Bench',
      family_name: `User ${i}`,
      organization_id: `bench-org-${org}`,
      organization_name: `Bench Organisation ${org}`,
    });
  }
  return users;
}

/**
 * Starts the IdP on 127.0.0.1. Options: clientId, clientSecret, redirectUris (exact match),
 * users (Map sub → claims, see benchUsers), tenantPath (issuer path, Cloudentity style).
 * Returns { issuer, discoverUrl, port, stats, stop() }.
 */
export async function startFastIdp(options) {
  const { clientId, clientSecret, users } = options;
  const tenantPath = options.tenantPath ?? '/bench/developers';
  const redirectUris = new Set(options.redirectUris);
  const kid = `bench-es256-${randomBytes(4).toString('hex')}`;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] });
  // A compact JWS signed with node:crypto (the same ES256 token jose's SignJWT makes, at a
  // fraction of its CPU: the stand-in shares the two cores with the broker it measures).
  const signingKey = KeyObject.from(privateKey);
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' })).toString('base64url');
  const signEs256 = (head, payload) => {
    const input = `${head}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    const signature = sign('sha256', Buffer.from(input), { key: signingKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  };
  const codes = new Map();
  const tokens = new Map();
  const stats = { discovery: 0, jwks: 0, authorize: 0, token: 0, userinfo: 0, refused: 0 };

  const server = http.createServer();
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  const origin = `http://127.0.0.1:${port}`;
  const issuer = `${origin}${tenantPath}`;
  const discovery = JSON.stringify({
    issuer,
    authorization_endpoint: `${issuer}/oauth2/authorize`,
    token_endpoint: `${issuer}/oauth2/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    userinfo_endpoint: `${issuer}/userinfo`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'email', 'profile'],
    authorization_response_iss_parameter_supported: true,
  });

  const refuse = (res, status, error, description) => {
    stats.refused++;
    send(res, status, { error, error_description: description });
  };

  function authorize(url, res) {
    stats.authorize++;
    const q = url.searchParams;
    const redirectUri = q.get('redirect_uri') ?? '';
    if (q.get('client_id') !== clientId || !redirectUris.has(redirectUri)) {
      return refuse(res, 400, 'invalid_request', 'unknown client or redirect_uri');
    }
    const back = new URL(redirectUri);
    const fail = (error) => {
      stats.refused++;
      back.searchParams.set('error', error);
      if (q.get('state')) back.searchParams.set('state', q.get('state'));
      back.searchParams.set('iss', issuer);
      res.writeHead(302, { location: back.toString(), 'content-length': 0 });
      res.end();
    };
    if (q.get('response_type') !== 'code') return fail('unsupported_response_type');
    if (q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') ?? '')) {
      return fail('invalid_request');
    }
    if (!(q.get('scope') ?? '').split(' ').includes('openid')) return fail('invalid_scope');
    const user = users.get(q.get('login_hint') ?? '');
    if (!user) return fail('access_denied');
    const now = Date.now();
    prune(codes, now);
    const code = randomBytes(32).toString('base64url');
    codes.set(code, {
      sub: user.sub,
      redirectUri,
      challenge: q.get('code_challenge'),
      nonce: q.get('nonce') ?? undefined,
      expiresAt: now + CODE_TTL_MS,
    });
    back.searchParams.set('code', code);
    if (q.get('state') !== null) back.searchParams.set('state', q.get('state'));
    back.searchParams.set('iss', issuer);
    res.writeHead(302, { location: back.toString(), 'content-length': 0 });
    res.end();
  }

  async function token(req, res) {
    stats.token++;
    const client = parseBasic(req.headers.authorization);
    if (!client || client.id !== clientId || !safeEqual(client.secret, clientSecret)) {
      return refuse(res, 401, 'invalid_client', 'client_secret_basic required');
    }
    const form = new URLSearchParams(await readBody(req));
    if (form.has('client_secret')) return refuse(res, 400, 'invalid_request', 'two client authentications');
    if (form.get('grant_type') !== 'authorization_code') return refuse(res, 400, 'unsupported_grant_type', '');
    const code = form.get('code') ?? '';
    const grant = codes.get(code);
    codes.delete(code);
    if (!grant || grant.expiresAt <= Date.now()) return refuse(res, 400, 'invalid_grant', 'unknown or used code');
    if (form.get('redirect_uri') !== grant.redirectUri) return refuse(res, 400, 'invalid_grant', 'redirect_uri');
    const verifier = form.get('code_verifier') ?? '';
    const challenge = createHash('sha256').update(verifier, 'ascii').digest('base64url');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !safeEqual(challenge, grant.challenge)) {
      return refuse(res, 400, 'invalid_grant', 'PKCE verification failed');
    }
    const user = users.get(grant.sub);
    const now = Math.floor(Date.now() / 1000);
    const claims = { ...user };
    delete claims.sub;
    if (grant.nonce !== undefined) claims.nonce = grant.nonce;
    const idToken = signEs256(header, {
      ...claims,
      iss: issuer,
      sub: user.sub,
      aud: clientId,
      iat: now,
      exp: now + 300,
    });
    const accessToken = randomBytes(32).toString('base64url');
    prune(tokens, Date.now());
    tokens.set(accessToken, { sub: user.sub, expiresAt: Date.now() + TOKEN_TTL_MS });
    send(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: 300,
      id_token: idToken,
      scope: 'openid email',
    });
  }

  function userinfo(req, res) {
    stats.userinfo++;
    const header = req.headers.authorization ?? '';
    const entry = header.startsWith('Bearer ') ? tokens.get(header.slice(7)) : undefined;
    if (!entry || entry.expiresAt <= Date.now()) {
      stats.refused++;
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-length': 0 });
      res.end();
      return;
    }
    send(res, 200, users.get(entry.sub));
  }

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const path = url.pathname;
    const route = async () => {
      if (req.method === 'GET' && path === `${tenantPath}/.well-known/openid-configuration`) {
        stats.discovery++;
        return send(res, 200, discovery, { 'content-type': 'application/json' });
      }
      if (req.method === 'GET' && path === `${tenantPath}/.well-known/jwks.json`) {
        stats.jwks++;
        return send(res, 200, jwks, { 'content-type': 'application/jwk-set+json' });
      }
      if (req.method === 'GET' && path === `${tenantPath}/oauth2/authorize`) return authorize(url, res);
      if (req.method === 'POST' && path === `${tenantPath}/oauth2/token`) return token(req, res);
      if (path === `${tenantPath}/userinfo`) return userinfo(req, res);
      send(res, 404, { error: 'not_found' });
    };
    route().catch((e) => {
      if (!res.headersSent) send(res, 500, { error: 'server_error', error_description: String(e?.message ?? e) });
    });
  });

  return {
    issuer,
    discoverUrl: `${issuer}/.well-known/openid-configuration`,
    port,
    stats,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
