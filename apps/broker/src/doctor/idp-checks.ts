import { createHash, randomBytes } from 'node:crypto';
import {
  ALLOWED_JWS_ALGORITHMS,
  basicClientCredentials,
  chooseClientAuth,
  type DiscoveryDocument,
  type IdpHttpClient,
  type OidcDiscoveryService,
} from '@app/cloudentity';
import { isDomainError } from '@app/common';
import { fail, pass, warn, type DoctorItem } from './doctor-report.js';

/** What the doctor needs to know of one openid-connect provider of a profile. */
export interface IdpUnderTest {
  discoverUrl: string;
  clientId: string;
  clientSecret: string;
  callbackUrl: string;
  scopes: string[];
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
}

function json(body: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function call(http: IdpHttpClient, options: Parameters<IdpHttpClient['request']>[0]) {
  try {
    return await http.request(options);
  } catch (e) {
    return { error: (e as { reason?: string }).reason ?? 'network' };
  }
}

/**
 * The IdP end of a profile, checked without a user: discovery (reachable, issuer as the
 * DiscoverURL says), JWKS (usable signing keys), the client credentials at the token endpoint (a
 * dummy code answers invalid_grant once the client authenticated, invalid_client when it did not)
 * and the redirect URI at the authorize endpoint.
 */
export async function checkIdp(
  idp: IdpUnderTest,
  discovery: OidcDiscoveryService,
  http: IdpHttpClient,
): Promise<DoctorItem[]> {
  let doc: DiscoveryDocument;
  try {
    doc = await discovery.get(idp.discoverUrl);
  } catch (e) {
    const message = isDomainError(e) ? e.message : String(e);
    return [
      fail(
        'IdP discovery',
        `${idp.discoverUrl}: ${message}`,
        'check UseProviders[].DiscoverURL: it must be <issuer>/.well-known/openid-configuration, reachable from the broker, and its issuer must be that prefix',
      ),
    ];
  }
  const items: DoctorItem[] = [pass('IdP discovery', `reachable; issuer ${doc.issuer}`)];
  items.push(await checkJwks(doc, http));
  items.push(await checkClient(idp, doc, http));
  items.push(await checkRedirectUri(idp, doc, http));
  return items;
}

async function checkJwks(doc: DiscoveryDocument, http: IdpHttpClient): Promise<DoctorItem> {
  const res = await call(http, { method: 'GET', url: doc.jwks_uri, headers: { accept: 'application/json' } });
  if ('error' in res || res.status !== 200) {
    return fail(
      'IdP signing keys',
      `${doc.jwks_uri} answered ${'error' in res ? res.error : `status ${res.status}`}`,
      "the IdP must publish its keys at the discovery document's jwks_uri, reachable from the broker",
    );
  }
  const keys = json(res.body)?.keys;
  const usable = (Array.isArray(keys) ? (keys as Record<string, unknown>[]) : []).filter(
    (k) =>
      (k.kty === 'RSA' || k.kty === 'EC') &&
      (k.use === undefined || k.use === 'sig') &&
      (k.alg === undefined || (ALLOWED_JWS_ALGORITHMS as readonly unknown[]).includes(k.alg)),
  );
  return usable.length > 0
    ? pass('IdP signing keys', `${usable.length} usable key(s) (${ALLOWED_JWS_ALGORITHMS.join(', ')})`)
    : fail(
        'IdP signing keys',
        `no RSA or EC signing key with ${ALLOWED_JWS_ALGORITHMS.join(', ')} at ${doc.jwks_uri}`,
        "sign ID tokens with RS256, PS256 or ES256 (Cloudentity: the workspace's token signing algorithm)",
      );
}

async function checkClient(idp: IdpUnderTest, doc: DiscoveryDocument, http: IdpHttpClient): Promise<DoctorItem> {
  const method = chooseClientAuth(doc, idp.tokenEndpointAuthMethod);
  const body = new URLSearchParams({
    grant_type: 'authorization_code',
    code: `sso-broker-doctor-${randomBytes(12).toString('hex')}`,
    redirect_uri: idp.callbackUrl,
    code_verifier: randomBytes(32).toString('base64url'),
  });
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (method === 'client_secret_basic') {
    headers.authorization = basicClientCredentials(idp.clientId, idp.clientSecret);
  } else {
    body.set('client_id', idp.clientId);
    body.set('client_secret', idp.clientSecret);
  }
  const res = await call(http, { method: 'POST', url: doc.token_endpoint, headers, body: body.toString() });
  if ('error' in res) {
    return fail(
      'Client credentials',
      `the token endpoint could not be reached (${res.error})`,
      'check the network path from the broker to the IdP',
    );
  }
  const error = json(res.body)?.error;
  if (error === 'invalid_grant') {
    return pass(
      'Client credentials',
      `client ${idp.clientId} accepted (${method}); the dummy code was refused as expected`,
    );
  }
  if (error === 'invalid_client' || error === 'unauthorized_client' || res.status === 401) {
    return fail(
      'Client credentials',
      `the token endpoint refused client ${idp.clientId} with ${method} (${typeof error === 'string' ? error : `status ${res.status}`})`,
      'set UseProviders[].Key and Secret to the client id and secret of the IdP application; if the IdP expects the other client authentication, set UseProviders[].TokenEndpointAuthMethod',
    );
  }
  return warn(
    'Client credentials',
    `unexpected answer to a dummy code: status ${res.status}${typeof error === 'string' ? ` (${error})` : ''}`,
    'sign in once to confirm; the IdP should answer invalid_grant to an unknown code',
  );
}

async function checkRedirectUri(idp: IdpUnderTest, doc: DiscoveryDocument, http: IdpHttpClient): Promise<DoctorItem> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(doc.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: idp.clientId,
    redirect_uri: idp.callbackUrl,
    response_type: 'code',
    scope: (idp.scopes.includes('openid') ? idp.scopes : ['openid', ...idp.scopes]).join(' '),
    state: `doctor-${randomBytes(8).toString('hex')}`,
    nonce: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const res = await call(http, { method: 'GET', url: url.toString(), headers: { accept: 'text/html' } });
  const fix = `register ${idp.callbackUrl} as a redirect URI of client ${idp.clientId} at the IdP (or fix ProviderConfig.CallbackBaseURL)`;
  if ('error' in res) {
    return fail(
      'Redirect URI',
      `the authorize endpoint could not be reached (${res.error})`,
      'check the network path from the broker to the IdP',
    );
  }
  if (res.status >= 400) {
    const mentions = /redirect_uri|redirect uri/i.test(res.body) ? ': it names the redirect URI' : '';
    return fail('Redirect URI', `the IdP refused the authorize request (status ${res.status})${mentions}`, fix);
  }
  return pass('Redirect URI', `${idp.callbackUrl} accepted at the authorize endpoint`);
}
