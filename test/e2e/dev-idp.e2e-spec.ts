// The dev IdP (apps/dev-idp), run BUILT as a child process: `npx nest build dev-idp` first.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { loginWithDevIdp, startDevIdp, type RunningTestDevIdp } from '@test/support/dev-idp.js';

const CLIENT_ID = 'portal-sso-broker';
const CLIENT_SECRET = 'dev-secret-change-me';
const REDIRECT_URI = 'http://localhost:3010/auth/1/openid-connect/callback';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
  id_token_signing_alg_values_supported: string[];
  code_challenge_methods_supported: string[];
  response_types_supported: string[];
  scopes_supported: string[];
}

interface TokenResponse {
  access_token: string;
  id_token?: string;
  token_type: string;
  expires_in: number;
  error?: string;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function discover(issuer: string): Promise<Discovery> {
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  expect(res.status).toBe(200);
  return (await res.json()) as Discovery;
}

async function jwksOf(d: Discovery): Promise<JSONWebKeySet> {
  const res = await fetch(d.jwks_uri);
  expect(res.status).toBe(200);
  return (await res.json()) as JSONWebKeySet;
}

interface AuthorizeOptions {
  clientId?: string;
  redirectUri?: string;
  scope?: string;
  challenge?: string | null;
  nonce?: string;
  state?: string;
}

function authorizeUrl(d: Discovery, o: AuthorizeOptions = {}): string {
  const url = new URL(d.authorization_endpoint);
  url.searchParams.set('client_id', o.clientId ?? CLIENT_ID);
  url.searchParams.set('redirect_uri', o.redirectUri ?? REDIRECT_URI);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', o.scope ?? 'openid profile email');
  url.searchParams.set('state', o.state ?? randomBytes(8).toString('hex'));
  url.searchParams.set('nonce', o.nonce ?? randomBytes(8).toString('hex'));
  if (o.challenge !== null && o.challenge !== undefined) {
    url.searchParams.set('code_challenge', o.challenge);
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return url.href;
}

/** Logs `sub` in and returns the code plus what is needed to redeem it. */
async function getCode(
  d: Discovery,
  sub: string,
  o: AuthorizeOptions = {},
): Promise<{ code: string; verifier: string; nonce: string; state: string; location: URL }> {
  const { verifier, challenge } = pkce();
  const nonce = randomBytes(8).toString('hex');
  const state = randomBytes(8).toString('hex');
  const location = new URL(await loginWithDevIdp(authorizeUrl(d, { ...o, challenge, nonce, state }), sub));
  const code = location.searchParams.get('code');
  if (!code) throw new Error(`no code in ${location.href}`);
  return { code, verifier, nonce, state, location };
}

async function redeem(
  d: Discovery,
  code: string,
  verifier: string,
  auth: 'basic' | 'post' = 'basic',
  client = { id: CLIENT_ID, secret: CLIENT_SECRET, redirectUri: REDIRECT_URI },
): Promise<{ status: number; body: TokenResponse }> {
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: client.redirectUri,
    code_verifier: verifier,
  });
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') headers.authorization = basic(client.id, client.secret);
  else {
    form.set('client_id', client.id);
    form.set('client_secret', client.secret);
  }
  const res = await fetch(d.token_endpoint, { method: 'POST', headers, body: form.toString() });
  return { status: res.status, body: (await res.json()) as TokenResponse };
}

async function clientCredentials(
  d: Discovery,
  id: string,
  secret: string,
  resource?: string,
): Promise<{ status: number; body: TokenResponse }> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (resource) form.set('resource', resource);
  const res = await fetch(d.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(id, secret) },
    body: form.toString(),
  });
  return { status: res.status, body: (await res.json()) as TokenResponse };
}

describe('dev IdP (e2e, built app as a child process)', () => {
  const usersFile = path.join(mkdtempSync(path.join(tmpdir(), 'dev-idp-users-')), 'users.json');
  let idp: RunningTestDevIdp;
  let discovery: Discovery;
  const issuedSecrets: string[] = [];

  beforeAll(async () => {
    writeFileSync(
      usersFile,
      JSON.stringify([
        {
          sub: 'mover',
          email: 'mover@acme.example',
          name: 'Moving Developer',
          organization_id: 'acme',
          organization_name: 'Acme Corp',
          groups: ['developers'],
        },
      ]),
    );
    idp = await startDevIdp({
      env: {
        DEV_IDP_USERS: JSON.stringify([
          {
            sub: 'zoe',
            email: 'zoe@initech.example',
            email_verified: true,
            name: 'Zoe <script>alert(1)</script> Zimmer',
            given_name: 'Zoe',
            family_name: 'Zimmer',
            organization_id: 'initech',
            organization_name: 'Initech & Co',
            groups: ['developers', 'initech-admins'],
          },
        ]),
        DEV_IDP_USERS_FILE: usersFile,
      },
    });
    discovery = await discover(idp.issuer);
  });

  afterAll(async () => {
    await idp?.stop();
  });

  it('should answer GET /health with 200', async () => {
    const res = await fetch(`${idp.url}/health`);
    expect(res.status).toBe(200);
  });

  it('should publish a Cloudentity-shaped issuer http://localhost:<port>/<tenant>/<workspace> in discovery', () => {
    expect(idp.issuer).toBe(`http://localhost:${idp.port}/dev/developers`);
    expect(discovery.issuer).toBe(`http://localhost:${idp.port}/dev/developers`);
    expect(discovery.authorization_endpoint).toBe(`${idp.issuer}/oauth2/authorize`);
    expect(discovery.token_endpoint).toBe(`${idp.issuer}/oauth2/token`);
    expect(discovery.userinfo_endpoint).toBe(`${idp.issuer}/userinfo`);
    expect(discovery.jwks_uri).toBe(`${idp.issuer}/.well-known/jwks.json`);
    expect(discovery.id_token_signing_alg_values_supported).toEqual(['ES256']);
    expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
    expect(discovery.response_types_supported).toEqual(['code']);
    expect(discovery.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email']));
  });

  it('should publish only public ES256 P-256 keys in the JWKS', async () => {
    const { keys } = await jwksOf(discovery);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(typeof key.kid).toBe('string');
      expect(key.d).toBeUndefined();
    }
  });

  it('should list every developer on the login page as an account button with name, email and organisation, HTML-escaped', async () => {
    const res = await fetch(authorizeUrl(discovery, { challenge: pkce().challenge }), { redirect: 'manual' });
    expect(res.status).toBe(303);
    const loginUrl = new URL(res.headers.get('location')!, discovery.authorization_endpoint).href;
    expect(loginUrl.startsWith(`${idp.issuer}/interaction/`)).toBe(true);
    const cookies = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const page = await fetch(loginUrl, { headers: { cookie: cookies } });
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const [sub, name, email, org] of [
      ['alice', 'Alice Anderson', 'alice@acme.example', 'Acme Corp'],
      ['bob', 'Bob Baker', 'bob@acme.example', 'Acme Corp'],
      ['carol', 'Carol Chen', 'carol@globex.example', 'Globex Inc'],
      ['dave', 'Dave Davis', 'dave@globex.example', 'Globex Inc'],
      ['erin', 'Erin Evans', 'erin@globex.example', 'Globex Inc'],
      ['mover', 'Moving Developer', 'mover@acme.example', 'Acme Corp'],
    ]) {
      expect(html).toContain(`<button type="submit" class="account" name="account" value="${sub}">`);
      expect(html).toContain(name);
      expect(html).toContain(email);
      expect(html).toContain(org);
    }
    expect(html).toContain('Zoe &lt;script&gt;alert(1)&lt;/script&gt; Zimmer');
    expect(html).toContain('Initech &amp; Co');
    expect(html).not.toContain('<script>');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('should complete a code flow with PKCE S256 and client_secret_basic, issuing an ES256 ID token with the org claims', async () => {
    const { code, verifier, nonce, state, location } = await getCode(discovery, 'alice');
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe(state);
    expect(location.searchParams.get('iss')).toBe(idp.issuer);

    const { status, body } = await redeem(discovery, code, verifier);
    expect(status).toBe(200);
    expect(body.token_type).toBe('Bearer');
    issuedSecrets.push(body.access_token, body.id_token!, code);

    expect(decodeProtectedHeader(body.id_token!).alg).toBe('ES256');
    const jwks = createLocalJWKSet(await jwksOf(discovery));
    const { payload } = await jwtVerify(body.id_token!, jwks, {
      issuer: idp.issuer,
      audience: CLIENT_ID,
      algorithms: ['ES256'],
      requiredClaims: ['iat', 'exp', 'sub'],
    });
    expect(payload).toMatchObject({
      sub: 'alice',
      nonce,
      email: 'alice@acme.example',
      email_verified: true,
      name: 'Alice Anderson',
      given_name: 'Alice',
      family_name: 'Anderson',
      organization_id: 'acme',
      organization_name: 'Acme Corp',
      groups: ['developers', 'acme-admins'],
    });

    const userinfo = await fetch(discovery.userinfo_endpoint, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toEqual({
      sub: 'alice',
      email: 'alice@acme.example',
      email_verified: true,
      name: 'Alice Anderson',
      given_name: 'Alice',
      family_name: 'Anderson',
      organization_id: 'acme',
      organization_name: 'Acme Corp',
      groups: ['developers', 'acme-admins'],
    });
  });

  it('should release only the org claims with scope openid alone, and the profile and email claims with their scopes', async () => {
    const { code, verifier } = await getCode(discovery, 'carol', { scope: 'openid' });
    const { status, body } = await redeem(discovery, code, verifier);
    expect(status).toBe(200);
    const { payload } = await jwtVerify(body.id_token!, createLocalJWKSet(await jwksOf(discovery)), {
      issuer: idp.issuer,
      audience: CLIENT_ID,
    });
    expect(payload).toMatchObject({ sub: 'carol', organization_id: 'globex', organization_name: 'Globex Inc' });
    expect(payload.email).toBeUndefined();
    expect(payload.name).toBeUndefined();
    const userinfo = (await (
      await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${body.access_token}` } })
    ).json()) as Record<string, unknown>;
    expect(userinfo).toEqual({
      sub: 'carol',
      organization_id: 'globex',
      organization_name: 'Globex Inc',
      groups: ['developers', 'globex-api-team'],
    });
  });

  it('should say email_verified false for the seeded developer with an unverified email', async () => {
    const { code, verifier } = await getCode(discovery, 'dave');
    const { body } = await redeem(discovery, code, verifier);
    const { payload } = await jwtVerify(body.id_token!, createLocalJWKSet(await jwksOf(discovery)), {
      issuer: idp.issuer,
      audience: CLIENT_ID,
    });
    expect(payload).toMatchObject({ sub: 'dave', email: 'dave@globex.example', email_verified: false });
  });

  it('should refuse an authorization request without PKCE', async () => {
    const res = await fetch(authorizeUrl(discovery, { challenge: null }), { redirect: 'manual' });
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('should refuse a code redeemed with a wrong PKCE verifier', async () => {
    const { code } = await getCode(discovery, 'bob');
    const { status, body } = await redeem(discovery, code, pkce().verifier);
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_grant');
  });

  it('should refuse client_secret_post for the default client (registered as client_secret_basic)', async () => {
    const { code, verifier } = await getCode(discovery, 'bob');
    const post = await redeem(discovery, code, verifier, 'post');
    expect(post.status).toBe(401);
    expect(post.body.error).toBe('invalid_client');
  });

  it('should refuse a wrong client secret', async () => {
    const { code, verifier } = await getCode(discovery, 'bob');
    const res = await redeem(discovery, code, verifier, 'basic', {
      id: CLIENT_ID,
      secret: 'not-the-secret',
      redirectUri: REDIRECT_URI,
    });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
  });

  it('should sign in an account given in DEV_IDP_USERS', async () => {
    const { code, verifier } = await getCode(discovery, 'zoe');
    const { body } = await redeem(discovery, code, verifier);
    const { payload } = await jwtVerify(body.id_token!, createLocalJWKSet(await jwksOf(discovery)), {
      issuer: idp.issuer,
      audience: CLIENT_ID,
    });
    expect(payload).toMatchObject({
      sub: 'zoe',
      organization_id: 'initech',
      organization_name: 'Initech & Co',
      groups: ['developers', 'initech-admins'],
    });
  });

  it('should see a changed DEV_IDP_USERS_FILE on the next login without a restart', async () => {
    const first = await getCode(discovery, 'mover');
    const firstTokens = await redeem(discovery, first.code, first.verifier);
    const jwks = createLocalJWKSet(await jwksOf(discovery));
    const before = await jwtVerify(firstTokens.body.id_token!, jwks, { issuer: idp.issuer, audience: CLIENT_ID });
    expect(before.payload).toMatchObject({ organization_id: 'acme', organization_name: 'Acme Corp' });

    writeFileSync(
      usersFile,
      JSON.stringify([
        {
          sub: 'mover',
          email: 'mover@globex.example',
          name: 'Moving Developer',
          organization_id: 'globex',
          organization_name: 'Globex Inc',
          groups: ['developers', 'globex-api-team'],
        },
      ]),
    );
    const second = await getCode(discovery, 'mover');
    const secondTokens = await redeem(discovery, second.code, second.verifier);
    const after = await jwtVerify(secondTokens.body.id_token!, jwks, { issuer: idp.issuer, audience: CLIENT_ID });
    expect(after.payload).toMatchObject({
      sub: 'mover',
      email: 'mover@globex.example',
      organization_id: 'globex',
      organization_name: 'Globex Inc',
      groups: ['developers', 'globex-api-team'],
    });
  });

  it('should send the developer back with error=access_denied when the sign-in is cancelled', async () => {
    const start = await fetch(authorizeUrl(discovery, { challenge: pkce().challenge, state: 'st-1' }), {
      redirect: 'manual',
    });
    const loginUrl = new URL(start.headers.get('location')!, discovery.authorization_endpoint).href;
    const cookie = start.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    const abort = await fetch(`${loginUrl}/abort`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    expect(abort.status).toBe(303);
    const resume = await fetch(abort.headers.get('location')!, { headers: { cookie }, redirect: 'manual' });
    expect(resume.status).toBe(303);
    const back = new URL(resume.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('st-1');
  });

  it('should refuse to sign in an unknown account', async () => {
    await expect(loginWithDevIdp(authorizeUrl(discovery, { challenge: pkce().challenge }), 'nobody')).rejects.toThrow(
      /not offered/,
    );
  });

  it('should issue broker-admin and broker-auditor JWT access tokens with roles and the admin audience', async () => {
    const jwks = createLocalJWKSet(await jwksOf(discovery));
    for (const [id, secret, roles] of [
      ['broker-admin', 'dev-admin-secret', ['broker:admin']],
      ['broker-auditor', 'dev-auditor-secret', ['broker:auditor']],
    ] as const) {
      const { status, body } = await clientCredentials(discovery, id, secret);
      expect(status).toBe(200);
      issuedSecrets.push(body.access_token);
      expect(decodeProtectedHeader(body.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
      const { payload } = await jwtVerify(body.access_token, jwks, {
        issuer: idp.issuer,
        audience: 'urn:portal-sso-broker:admin',
        algorithms: ['ES256'],
      });
      expect(payload).toMatchObject({ sub: id, client_id: id, roles: [...roles] });
    }
  });

  it('should take the admin token audience from the resource parameter', async () => {
    const { status, body } = await clientCredentials(
      discovery,
      'broker-admin',
      'dev-admin-secret',
      'https://broker.example/admin',
    );
    expect(status).toBe(200);
    const { payload } = await jwtVerify(body.access_token, createLocalJWKSet(await jwksOf(discovery)), {
      issuer: idp.issuer,
      audience: 'https://broker.example/admin',
    });
    expect(payload.roles).toEqual(['broker:admin']);
  });

  it('should refuse client_credentials with a wrong admin secret or for the portal client', async () => {
    const wrong = await clientCredentials(discovery, 'broker-admin', 'dev-auditor-secret');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    const portal = await clientCredentials(discovery, CLIENT_ID, CLIENT_SECRET);
    expect(portal.status).toBe(400);
    expect(portal.body.error).toBe('invalid_request');
    expect((portal.body as unknown as { error_description: string }).error_description).toMatch(/grant type/);
  });

  it('should never print secrets, codes or tokens in its output', () => {
    expect(issuedSecrets.length).toBeGreaterThan(3);
    const output = idp.output();
    expect(output).toContain(`ready issuer=${idp.issuer}`);
    for (const secret of [...issuedSecrets, CLIENT_SECRET, 'dev-admin-secret', 'dev-auditor-secret']) {
      expect(output).not.toContain(secret);
    }
  });
});

describe('dev IdP configured by env (e2e)', () => {
  it('should use DEV_IDP_TENANT/DEV_IDP_WORKSPACE and accept client_secret_post for a client registered with it', async () => {
    const redirectUri = 'http://127.0.0.1:4999/cb';
    const idp = await startDevIdp({
      env: {
        DEV_IDP_TENANT: 'acme-tenant',
        DEV_IDP_WORKSPACE: 'portal',
        DEV_IDP_CLIENTS: JSON.stringify([
          {
            client_id: 'post-client',
            client_secret: 'post-secret',
            redirect_uris: [redirectUri],
            token_endpoint_auth_method: 'client_secret_post',
          },
        ]),
      },
    });
    try {
      expect(idp.issuer).toBe(`http://localhost:${idp.port}/acme-tenant/portal`);
      const d = await discover(idp.issuer);
      expect(d.issuer).toBe(idp.issuer);
      const client = { id: 'post-client', secret: 'post-secret', redirectUri };
      const first = await getCode(d, 'erin', { clientId: 'post-client', redirectUri });
      const viaBasic = await redeem(d, first.code, first.verifier, 'basic', client);
      expect(viaBasic.status).toBe(401);
      const second = await getCode(d, 'erin', { clientId: 'post-client', redirectUri });
      const viaPost = await redeem(d, second.code, second.verifier, 'post', client);
      expect(viaPost.status).toBe(200);
      const { payload } = await jwtVerify(viaPost.body.id_token!, createLocalJWKSet(await jwksOf(d)), {
        issuer: idp.issuer,
        audience: 'post-client',
      });
      expect(payload).toMatchObject({ sub: 'erin', organization_id: 'globex' });
      // The default client is replaced by DEV_IDP_CLIENTS.
      const res = await fetch(authorizeUrl(d, { challenge: pkce().challenge }), { redirect: 'manual' });
      expect(res.status).toBe(400);
    } finally {
      await idp.stop();
    }
  });

  it('should keep its signing key (same kid) across a restart with the same data dir', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'dev-idp-keys-'));
    const first = await startDevIdp({ dataDir });
    let kidsBefore: string[];
    try {
      kidsBefore = (await jwksOf(await discover(first.issuer))).keys.map((k) => k.kid!);
    } finally {
      await first.stop();
    }
    const second = await startDevIdp({ dataDir });
    try {
      const d = await discover(second.issuer);
      const kidsAfter = (await jwksOf(d)).keys.map((k) => k.kid!);
      expect(kidsAfter).toEqual(kidsBefore);
      const { code, verifier } = await getCode(d, 'alice');
      const { body } = await redeem(d, code, verifier);
      expect(decodeProtectedHeader(body.id_token!).kid).toBe(kidsBefore[0]);
    } finally {
      await second.stop();
    }
    const other = await startDevIdp({});
    try {
      const kidsElsewhere = (await jwksOf(await discover(other.issuer))).keys.map((k) => k.kid!);
      expect(kidsElsewhere).not.toEqual(kidsBefore);
    } finally {
      await other.stop();
    }
  });

  it('should refuse to start with an invalid DEV_IDP_CLIENTS', async () => {
    await expect(startDevIdp({ env: { DEV_IDP_CLIENTS: '[{"client_id":"x"}]' } })).rejects.toThrow(
      /client_secret is required/,
    );
  });
});
