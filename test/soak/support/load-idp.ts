import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/**
 * An OpenID provider for load and crash runs: node:http + jose on loopback, shaped like a
 * Cloudentity workspace (discovery, ES256 JWKS, PKCE S256, client_secret_basic, ID tokens with the
 * nonce, userinfo), with no login page. The authorize endpoint redirects straight back with a code
 * for the user named by `login_hint`, so many different developers can sign in at once (the
 * fake IdP of test/support has one user at a time). Codes are single-use; codes and access tokens
 * expire and are pruned, so the IdP's own memory stays flat during a soak.
 */

export interface LoadUser {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string;
  given_name: string;
  family_name: string;
  organization_id: string;
  organization_name: string;
}

/** `count` subjects `<prefix>-<i>` spread round-robin over `orgs` organisations. */
export function loadUsers(count: number, orgs: number, prefix = 'load'): Map<string, LoadUser> {
  const users = new Map<string, LoadUser>();
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

export interface LoadIdpStats {
  discovery: number;
  jwks: number;
  authorize: number;
  token: number;
  userinfo: number;
  refused: number;
}

export interface LoadIdp {
  issuer: string;
  discoverUrl: string;
  clientId: string;
  clientSecret: string;
  users: Map<string, LoadUser>;
  stats: LoadIdpStats;
  stop(): Promise<void>;
}

export interface LoadIdpOptions {
  users: Map<string, LoadUser>;
  clientId?: string;
  clientSecret?: string;
  tenantPath?: string;
}

const CODE_TTL_MS = 60_000;
const TOKEN_TTL_MS = 60_000;

interface Grant {
  sub: string;
  redirectUri: string;
  challenge: string;
  nonce: string | undefined;
  expiresAt: number;
}

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sameSecret(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Map keeps insertion order, and entries are inserted with increasing expiry: prune from the front. */
function prune<T extends { expiresAt: number }>(map: Map<string, T>, now: number): void {
  for (const [key, value] of map) {
    if (value.expiresAt > now) break;
    map.delete(key);
  }
}

export async function startLoadIdp(options: LoadIdpOptions): Promise<LoadIdp> {
  const clientId = options.clientId ?? 'load-client';
  const clientSecret = options.clientSecret ?? `load-secret-${randomBytes(12).toString('hex')}`;
  const tenantPath = options.tenantPath ?? '/load/developers';
  const users = options.users;
  const kid = `load-es256-${randomBytes(4).toString('hex')}`;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] });
  const codes = new Map<string, Grant>();
  const tokens = new Map<string, { sub: string; expiresAt: number }>();
  const stats: LoadIdpStats = { discovery: 0, jwks: 0, authorize: 0, token: 0, userinfo: 0, refused: 0 };
  let issuer = '';

  function authorize(url: URL, res: http.ServerResponse): void {
    stats.authorize++;
    const q = url.searchParams;
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== clientId || !redirectUri) {
      stats.refused++;
      return send(res, 400, { error: 'invalid_request' });
    }
    const back = new URL(redirectUri);
    const state = q.get('state');
    if (state !== null) back.searchParams.set('state', state);
    back.searchParams.set('iss', issuer);
    const user = users.get(q.get('login_hint') ?? '');
    const challenge = q.get('code_challenge') ?? '';
    if (!user || q.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
      stats.refused++;
      back.searchParams.set('error', user ? 'invalid_request' : 'access_denied');
    } else {
      const now = Date.now();
      prune(codes, now);
      const code = randomBytes(32).toString('base64url');
      codes.set(code, {
        sub: user.sub,
        redirectUri,
        challenge,
        nonce: q.get('nonce') ?? undefined,
        expiresAt: now + CODE_TTL_MS,
      });
      back.searchParams.set('code', code);
    }
    res.writeHead(302, { location: back.toString(), 'content-length': 0 });
    res.end();
  }

  async function token(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    stats.token++;
    const form = new URLSearchParams(await readBody(req));
    const header = req.headers.authorization ?? '';
    let id: string | null = null;
    let secret: string | null = null;
    if (header.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      id = dec(decoded.slice(0, colon));
      secret = dec(decoded.slice(colon + 1));
    } else if (form.has('client_secret')) {
      id = form.get('client_id');
      secret = form.get('client_secret');
    }
    if (id !== clientId || secret === null || !sameSecret(secret, clientSecret)) {
      stats.refused++;
      return send(res, 401, { error: 'invalid_client' });
    }
    const code = form.get('code') ?? '';
    const grant = codes.get(code);
    codes.delete(code);
    if (!grant || grant.expiresAt <= Date.now() || form.get('redirect_uri') !== grant.redirectUri) {
      stats.refused++;
      return send(res, 400, { error: 'invalid_grant' });
    }
    const verifier = form.get('code_verifier') ?? '';
    if (createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) {
      stats.refused++;
      return send(res, 400, { error: 'invalid_grant', error_description: 'PKCE' });
    }
    const user = users.get(grant.sub) as LoadUser;
    const { sub: _sub, ...claims } = user;
    const now = Math.floor(Date.now() / 1000);
    const idToken = await new SignJWT({ ...claims, ...(grant.nonce !== undefined ? { nonce: grant.nonce } : {}) })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(user.sub)
      .setAudience(clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(privateKey);
    const accessToken = randomBytes(32).toString('base64url');
    prune(tokens, Date.now());
    tokens.set(accessToken, { sub: user.sub, expiresAt: Date.now() + TOKEN_TTL_MS });
    send(res, 200, {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: 60,
      id_token: idToken,
      scope: 'openid email profile',
    });
  }

  function userinfo(req: http.IncomingMessage, res: http.ServerResponse): void {
    stats.userinfo++;
    const header = req.headers.authorization ?? '';
    const entry = header.startsWith('Bearer ') ? tokens.get(header.slice(7)) : undefined;
    if (!entry || entry.expiresAt <= Date.now()) {
      stats.refused++;
      return send(res, 401, { error: 'invalid_token' });
    }
    send(res, 200, users.get(entry.sub));
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const path = url.pathname.startsWith(tenantPath) ? url.pathname.slice(tenantPath.length) : '';
    const route = async (): Promise<void> => {
      switch (path) {
        case '/.well-known/openid-configuration':
          stats.discovery++;
          return send(res, 200, {
            issuer,
            authorization_endpoint: `${issuer}/oauth2/authorize`,
            token_endpoint: `${issuer}/oauth2/token`,
            jwks_uri: `${issuer}/.well-known/jwks.json`,
            userinfo_endpoint: `${issuer}/userinfo`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['ES256'],
            token_endpoint_auth_methods_supported: ['client_secret_basic'],
            code_challenge_methods_supported: ['S256'],
            scopes_supported: ['openid', 'email', 'profile'],
            authorization_response_iss_parameter_supported: true,
          });
        case '/.well-known/jwks.json':
          stats.jwks++;
          return send(res, 200, jwks);
        case '/oauth2/authorize':
          return authorize(url, res);
        case '/oauth2/token':
          return token(req, res);
        case '/userinfo':
          return userinfo(req, res);
        default:
          return send(res, 404, { error: 'not_found' });
      }
    };
    route().catch(() => {
      if (!res.headersSent) send(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}${tenantPath}`;
  return {
    issuer,
    discoverUrl: `${issuer}/.well-known/openid-configuration`,
    clientId,
    clientSecret,
    users,
    stats,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
