// The floor (issue 19): a bare node:http server doing exactly the broker's per-login I/O and
// nothing more, so the bench can say how much the product costs over the work itself.
//   GET /start:    state INSERT (handle, nonce, PKCE verifier, browser binding), 302 to the IdP,
//                  binding cookie.
//   GET /callback: DELETE…RETURNING of the state (bound to the cookie), token POST (undici,
//                  keep-alive, client_secret_basic, PKCE), ES256 verification of the ID token
//                  (jose, JWKS fetched once at start), developer upsert, audit INSERT, the three
//                  portal calls, 302 to the portal's /sso?nonce=.
// Every SQL statement is a named prepared statement (as the broker's login path). No routing
// framework, no logging, no metrics, no profiles, no audit chain, no error pages: a failure is a
// 302 to `/failed?error=<code>` (the driver counts it by code).
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { createLocalJWKSet, jwtVerify } from 'jose';
import pg from 'pg';
import { Agent, request } from 'undici';
import { anchorSettings, portalLogin, undiciSend } from './common.mjs';

const cfg = anchorSettings();
const COOKIE = 'floor_login';
const CALLBACK = `${cfg.publicUrl}/callback`;
const pool = new pg.Pool({ connectionString: cfg.databaseUrl, max: cfg.poolSize });
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 64 });
const send = undiciSend(agent);

await pool.query(`
  CREATE TABLE IF NOT EXISTS anchor_floor_states (
    handle text PRIMARY KEY, nonce text NOT NULL, code_verifier text NOT NULL,
    browser_binding text NOT NULL, expires_at timestamptz NOT NULL);
  CREATE TABLE IF NOT EXISTS anchor_floor_developers (
    id bigserial PRIMARY KEY, issuer text NOT NULL, subject text NOT NULL, email text, name text,
    organisation_id text, first_login_at timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(), login_count integer NOT NULL DEFAULT 1,
    UNIQUE (issuer, subject));
  CREATE TABLE IF NOT EXISTS anchor_floor_audit (
    id bigserial PRIMARY KEY, occurred_at timestamptz NOT NULL DEFAULT now(), type text NOT NULL,
    outcome text NOT NULL, actor text, developer_id bigint, organisation_id text, request_id text,
    details jsonb NOT NULL DEFAULT '{}')`);

/** @type {any} */
const discovery = await (await fetch(`${cfg.issuer}/.well-known/openid-configuration`)).json();
const jwks = createLocalJWKSet(/** @type {any} */ (await (await fetch(discovery.jwks_uri)).json()));
const basic = `Basic ${Buffer.from(`${encodeURIComponent(cfg.clientId)}:${encodeURIComponent(cfg.clientSecret)}`).toString('base64')}`;

const INSERT_STATE = {
  name: 'floor_state_insert',
  text: `INSERT INTO anchor_floor_states (handle, nonce, code_verifier, browser_binding, expires_at)
         VALUES ($1, $2, $3, $4, now() + interval '10 minutes')`,
};
const TAKE_STATE = {
  name: 'floor_state_take',
  text: `DELETE FROM anchor_floor_states WHERE handle = $1 AND browser_binding = $2 AND expires_at > now()
         RETURNING nonce, code_verifier`,
};
const UPSERT_DEVELOPER = {
  name: 'floor_developer_upsert',
  text: `INSERT INTO anchor_floor_developers AS d (issuer, subject, email, name, organisation_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (issuer, subject) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name,
           organisation_id = EXCLUDED.organisation_id, last_login_at = now(), login_count = d.login_count + 1
         RETURNING id`,
};
const INSERT_AUDIT = {
  name: 'floor_audit_insert',
  text: `INSERT INTO anchor_floor_audit (type, outcome, actor, developer_id, organisation_id, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
};

const b64 = (n) => randomBytes(n).toString('base64url');

function redirect(res, location, cookie) {
  const headers = { location, 'content-length': '0' };
  if (cookie) headers['set-cookie'] = cookie;
  res.writeHead(302, headers);
  res.end();
}

async function start(res) {
  const handle = b64(24);
  const nonce = b64(16);
  const verifier = b64(32);
  const binding = b64(24);
  await pool.query({ ...INSERT_STATE, values: [handle, nonce, verifier, binding] });
  const to = new URL(discovery.authorization_endpoint);
  const q = to.searchParams;
  q.set('response_type', 'code');
  q.set('client_id', cfg.clientId);
  q.set('redirect_uri', CALLBACK);
  q.set('scope', 'openid profile email');
  q.set('state', handle);
  q.set('nonce', nonce);
  q.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
  q.set('code_challenge_method', 'S256');
  redirect(res, to.href, `${COOKIE}=${binding}; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=600`);
}

class Failure extends Error {}

function cookieValue(header) {
  if (!header) return '';
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (part.slice(0, i).trim() === COOKIE) return part.slice(i + 1).trim();
  }
  return '';
}

async function callback(req, res, query) {
  const handle = query.get('state') ?? '';
  const code = query.get('code') ?? '';
  if (query.has('error')) throw new Failure('idp_error');
  if (query.get('iss') !== discovery.issuer) throw new Failure('issuer_mismatch');
  const { rows } = await pool.query({ ...TAKE_STATE, values: [handle, cookieValue(req.headers.cookie)] });
  if (rows.length === 0) throw new Failure('state_invalid');
  const [{ nonce, code_verifier: verifier }] = rows;
  const tokenRes = await request(discovery.token_endpoint, {
    method: 'POST',
    dispatcher: agent,
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
    }).toString(),
  });
  const tokens = /** @type {any} */ (await tokenRes.body.json());
  if (tokenRes.statusCode !== 200 || typeof tokens?.id_token !== 'string') throw new Failure('token_refused');
  const { payload: claims } = await jwtVerify(tokens.id_token, jwks, {
    issuer: discovery.issuer,
    audience: cfg.clientId,
    algorithms: ['ES256'],
  }).catch(() => {
    throw new Failure('id_token_invalid');
  });
  if (claims.nonce !== nonce) throw new Failure('nonce_mismatch');
  const sub = String(claims.sub);
  const email = String(claims.email ?? '');
  const org = claims.organization_id === undefined ? null : String(claims.organization_id);
  const dev = await pool.query({
    ...UPSERT_DEVELOPER,
    values: [discovery.issuer, sub, email, claims.name ?? null, org],
  });
  const developerId = dev.rows[0].id;
  const ssoNonce = await portalLogin(cfg, { sub, email, name: String(claims.name ?? '') }, send);
  await pool.query({
    ...INSERT_AUDIT,
    values: ['login.succeeded', 'success', sub, developerId, org, b64(8), JSON.stringify({ profile: 'floor' })],
  });
  redirect(res, `${cfg.portalUrl}/sso?nonce=${encodeURIComponent(ssoNonce)}`);
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const run =
    req.method !== 'GET'
      ? null
      : path === '/start'
        ? start(res)
        : path === '/callback'
          ? callback(req, res, new URLSearchParams(q < 0 ? '' : url.slice(q + 1)))
          : path === '/health'
            ? Promise.resolve(res.end('ok'))
            : null;
  if (run === null) {
    res.statusCode = 404;
    res.end();
    return;
  }
  run.catch((e) => {
    if (res.headersSent) return res.destroy();
    redirect(res, `${cfg.portalUrl}/failed?error=${e instanceof Failure ? e.message : 'internal'}`);
    if (!(e instanceof Failure)) process.stderr.write(`floor: ${e?.stack ?? e}\n`);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(cfg.port, '127.0.0.1');

const stop = () => {
  server.closeAllConnections();
  server.close();
  void pool.end();
  void agent.close();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
