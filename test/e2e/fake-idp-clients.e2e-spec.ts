import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { startFakeIdp, type FakeIdp } from '@test/support/fake-idp.js';

// The fake IdP's further clients (issue 19: the bench's comparison systems register their own
// client at the same IdP): each is authenticated with its own secret, gets ID tokens with its own
// audience, and may log in without PKCE when registered so; the main client still needs PKCE.
describe('fake IdP: further clients', () => {
  let idp: FakeIdp;
  const MAIN_REDIRECT = 'http://127.0.0.1:1/main/callback';
  const OTHER_REDIRECT = 'http://127.0.0.1:1/other/callback';

  beforeAll(async () => {
    idp = await startFakeIdp({
      clientId: 'main',
      clientSecret: 'main-secret',
      redirectUris: [MAIN_REDIRECT],
      fastSigning: true,
      clients: [{ clientId: 'other', clientSecret: 'other-secret', redirectUris: [OTHER_REDIRECT], pkce: false }],
    });
  });
  afterAll(() => idp.stop());

  async function authorize(params: Record<string, string>): Promise<Response> {
    const url = new URL(`${idp.issuer}/oauth2/authorize`);
    for (const [k, v] of Object.entries({ response_type: 'code', scope: 'openid', state: 's', ...params })) {
      url.searchParams.set(k, v);
    }
    return fetch(url, { redirect: 'manual' });
  }

  const codeOf = (res: Response) => new URL(res.headers.get('location') ?? '').searchParams.get('code') ?? '';

  function token(id: string, secret: string, form: Record<string, string>): Promise<Response> {
    return fetch(`${idp.issuer}/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', ...form }),
    });
  }

  it('lets a client registered without PKCE log in and signs its ID token for its own audience', async () => {
    const res = await authorize({ client_id: 'other', redirect_uri: OTHER_REDIRECT, nonce: 'n-1' });
    expect(res.status).toBe(302);
    const code = codeOf(res);
    expect(code).not.toBe('');
    const issued = await token('other', 'other-secret', { code, redirect_uri: OTHER_REDIRECT });
    expect(issued.status).toBe(200);
    const claims = decodeJwt(((await issued.json()) as { id_token: string }).id_token);
    expect(claims.aud).toBe('other');
    expect(claims.nonce).toBe('n-1');
  });

  it('authenticates each client with its own secret and keeps codes to the client they were issued to', async () => {
    const wrongSecret = await token('other', 'main-secret', {
      code: codeOf(await authorize({ client_id: 'other', redirect_uri: OTHER_REDIRECT })),
      redirect_uri: OTHER_REDIRECT,
    });
    expect(wrongSecret.status).toBe(401);
    const stolen = await token('main', 'main-secret', {
      code: codeOf(await authorize({ client_id: 'other', redirect_uri: OTHER_REDIRECT })),
      redirect_uri: OTHER_REDIRECT,
    });
    expect(stolen.status).toBe(400);
    // Redirect URIs are per client.
    expect((await authorize({ client_id: 'other', redirect_uri: MAIN_REDIRECT })).status).toBe(400);
  });

  it('still requires PKCE of the main client, and checks a challenge the PKCE-less client sends', async () => {
    expect((await authorize({ client_id: 'main', redirect_uri: MAIN_REDIRECT })).status).toBe(400);
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const withPkce = { redirect_uri: OTHER_REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' };
    const refused = await token('other', 'other-secret', {
      code: codeOf(await authorize({ client_id: 'other', ...withPkce })),
      redirect_uri: OTHER_REDIRECT,
      code_verifier: randomBytes(32).toString('base64url'),
    });
    expect(refused.status).toBe(400);
    const ok = await token('other', 'other-secret', {
      code: codeOf(await authorize({ client_id: 'other', ...withPkce })),
      redirect_uri: OTHER_REDIRECT,
      code_verifier: verifier,
    });
    expect(ok.status).toBe(200);
    const mainOk = await token('main', 'main-secret', {
      code: codeOf(await authorize({ client_id: 'main', ...withPkce, redirect_uri: MAIN_REDIRECT })),
      redirect_uri: MAIN_REDIRECT,
      code_verifier: verifier,
    });
    expect(decodeJwt(((await mainOk.json()) as { id_token: string }).id_token).aud).toBe('main');
  });
});
