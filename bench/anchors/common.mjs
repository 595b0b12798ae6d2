// What both comparison systems of the bench (issue 19) share: their settings from the
// environment the bench gives them, and the three portal calls the broker makes per developer
// login (POST /api/sso for the nonce, GET the developer by SSO key, PUT it back with the nonce;
// POST a new developer on a first login), the way the broker makes them (libs/tyk-portal).
// Not shared: how each system talks HTTP to the IdP, handles state and verifies the token.
import { request } from 'undici';

const env = process.env;

/** Settings from the environment (set by bench/anchors/run-anchors.mjs). */
export function anchorSettings() {
  const need = (name) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is required`);
    return value;
  };
  return {
    port: Number(need('ANCHOR_PORT')),
    publicUrl: need('ANCHOR_PUBLIC_URL'),
    databaseUrl: need('ANCHOR_DATABASE_URL'),
    poolSize: Number(env.ANCHOR_POOL_SIZE ?? 10),
    issuer: need('ANCHOR_ISSUER'),
    clientId: need('ANCHOR_CLIENT_ID'),
    clientSecret: need('ANCHOR_CLIENT_SECRET'),
    portalUrl: need('ANCHOR_PORTAL_URL'),
    portalSecret: need('ANCHOR_PORTAL_SECRET'),
  };
}

/** The broker's SSO key for a developer (libs/tyk-portal derived-values `ssoKey`, provider openid-connect). */
export const ssoKeyOf = (sub) => `${sub}@openid-connect.com`;

/** Go's url.QueryEscape, as the broker escapes the SSO key in the path. */
const queryEscape = (s) => encodeURIComponent(s).replace(/%20/g, '+');

/**
 * @typedef {(method: string, url: string, headers: Record<string, string>, body?: string) => Promise<{ status: number, text: string }>} Send
 * One HTTP exchange with the portal: each system brings its own client.
 */

/** undici's request() on a keep-alive Agent (the floor; the broker's own client is undici too). */
export function undiciSend(dispatcher) {
  /** @type {Send} */
  return async (method, url, headers, body) => {
    const res = await request(url, { method: /** @type {any} */ (method), headers, body, dispatcher });
    return { status: res.statusCode, text: await res.body.text() };
  };
}

/** The global fetch (what a hand-written service reaches for first). */
/** @type {Send} */
export const fetchSend = async (method, url, headers, body) => {
  const res = await fetch(url, { method, headers, body });
  return { status: res.status, text: await res.text() };
};

function json(res, what) {
  if (res.status !== 200 && res.status !== 201) throw new Error(`${what} answered ${res.status}`);
  return JSON.parse(res.text);
}

/**
 * The portal part of one developer login, as the broker does it; returns the nonce.
 * @param {{ portalUrl: string, portalSecret: string }} portal
 * @param {{ sub: string, email: string, name?: string }} identity
 * @param {Send} send
 */
export async function portalLogin(portal, identity, send) {
  const headers = { authorization: portal.portalSecret };
  const created = json(
    await send(
      'POST',
      `${portal.portalUrl}/api/sso`,
      headers,
      JSON.stringify({
        ForSection: 'portal',
        OrgID: '0',
        EmailAddress: identity.email,
        DisplayName: identity.name ?? '',
        GroupID: '',
        GroupsIDs: [],
        SSOOnlyForRegisteredUsers: false,
      }),
    ),
    'POST /api/sso',
  );
  const nonce = String(created.Meta ?? '');
  if (!nonce) throw new Error('POST /api/sso gave no nonce');
  const key = ssoKeyOf(identity.sub);
  const found = await send('GET', `${portal.portalUrl}/api/portal/developers/ssokey/${queryEscape(key)}`, headers);
  if (found.status === 200) {
    const developer = JSON.parse(found.text);
    const email = developer.email === '' ? identity.email : developer.email;
    json(
      await send(
        'PUT',
        `${portal.portalUrl}/api/portal/developers/${encodeURIComponent(developer.id)}`,
        headers,
        JSON.stringify({ ...developer, nonce, email }),
      ),
      'PUT /api/portal/developers/:id',
    );
  } else {
    if (found.status >= 500 || found.status === 401 || found.status === 403) {
      throw new Error(`GET /api/portal/developers/ssokey/:key answered ${found.status}`);
    }
    json(
      await send(
        'POST',
        `${portal.portalUrl}/api/portal/developers`,
        headers,
        JSON.stringify({ email: identity.email, org_id: '0', nonce, sso_key: key }),
      ),
      'POST /api/portal/developers',
    );
  }
  return nonce;
}
