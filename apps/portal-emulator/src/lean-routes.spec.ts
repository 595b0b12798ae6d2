import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmulatorContext } from './emulator.context.js';
import { EmulatorState } from './emulator.state.js';
import { leanRoutes } from './lean-routes.js';
import { requestFront } from './request-pipeline.js';

const SECRET = 'api-secret';
const ADMIN = 'admin-token';
/** What the stand-in for Express answers, so a test can tell who answered. */
const FALLBACK = 418;

interface Answer {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

function send(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<Answer>((resolve, reject) => {
    const sent = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = request({ host: '127.0.0.1', port, method, path, headers: sent, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }),
      );
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('leanRoutes', () => {
  let ctx: EmulatorContext;
  let server: Server;
  let port: number;
  let fallbacks: string[];

  beforeEach(async () => {
    ctx = {
      state: new EmulatorState(60_000),
      apiSecret: SECRET,
      adminToken: ADMIN,
      faults: null,
      faultMatches: 0,
      requests: [],
      maxRecordedRequests: 100,
    };
    fallbacks = [];
    const express = (req: IncomingMessage, res: ServerResponse) => {
      fallbacks.push(`${req.method} ${req.url}`);
      res.statusCode = FALLBACK;
      res.end('fallback');
    };
    server = createServer(requestFront(ctx, express, leanRoutes(ctx)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const sso = (body: unknown = { ForSection: 'portal', EmailAddress: 'dev@example.com' }) =>
    send(port, 'POST', '/api/sso', { authorization: SECRET }, JSON.stringify(body));

  async function firstLogin() {
    const nonce = JSON.parse((await sso()).body).Meta as string;
    const created = await send(
      port,
      'POST',
      '/api/portal/developers',
      { authorization: SECRET },
      JSON.stringify({ nonce, sso_key: 'dev@idp', email: 'dev@example.com' }),
    );
    expect(created.status).toBe(201);
    return { nonce, developer: JSON.parse(created.body) as { id: string } };
  }

  it('should answer the SSO API routes of a login itself, with the Express JSON headers', async () => {
    const nonce = await sso();
    expect(nonce.status).toBe(200);
    expect(nonce.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(nonce.headers['content-length']).toBe(String(Buffer.byteLength(nonce.body)));
    expect(nonce.headers.etag).toMatch(/^W\/"[0-9a-f]+-[A-Za-z0-9+/]{27}"$/);
    const { developer } = await firstLogin();
    const found = await send(port, 'GET', '/api/portal/developers/ssokey/dev%40idp', { authorization: SECRET });
    expect(found.status).toBe(200);
    expect(JSON.parse(found.body)).toMatchObject({ id: developer.id, sso_key: 'dev@idp' });
    const fresh = JSON.parse((await sso()).body).Meta as string;
    const put = await send(
      port,
      'PUT',
      `/api/portal/developers/${developer.id}`,
      { authorization: SECRET },
      JSON.stringify({ ...JSON.parse(found.body), nonce: fresh }),
    );
    expect(put.status).toBe(200);
    expect(fallbacks).toEqual([]);
  });

  it('should answer the management API reads, the user update and /sso itself', async () => {
    const { nonce, developer } = await firstLogin();
    const admin = { authorization: ADMIN };
    expect((await send(port, 'GET', '/portal-api/users?email=dev%40example.com', admin)).status).toBe(200);
    // The developer API's id is opaque (E5); the management API's user id is an integer.
    expect(developer.id).toMatch(/^[0-9a-f]{24}$/);
    const userId = [...ctx.state.developers.values()].find((d) => d.id === developer.id)!.userId;
    expect((await send(port, 'GET', `/portal-api/users/${userId}`, admin)).status).toBe(200);
    expect((await send(port, 'PUT', `/portal-api/users/${userId}`, admin, '{"First":"Dev"}')).status).toBe(200);
    expect((await send(port, 'GET', '/portal-api/organisations/1/teams', admin)).status).toBe(200);
    const landing = await send(port, 'GET', `/sso?nonce=${nonce}`);
    expect(landing.status).toBe(302);
    expect(landing.headers['set-cookie']).toEqual([
      expect.stringMatching(/^portal-session=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/),
    ]);
    expect((await send(port, 'GET', `/sso?nonce=${nonce}`, { accept: '*/*' })).status).toBe(401);
    expect(fallbacks).toEqual([]);
  });

  it('should answer errors in each surface shape without falling back', async () => {
    const wrong = await send(port, 'POST', '/api/sso', { authorization: ADMIN }, '{}');
    expect([wrong.status, JSON.parse(wrong.body)]).toEqual([
      401,
      { Status: 'error', Message: 'Not authorised', Meta: null },
    ]);
    const missing = await send(port, 'GET', '/portal-api/users/42', { authorization: ADMIN });
    expect([missing.status, JSON.parse(missing.body)]).toEqual([404, { errors: ['User not found'] }]);
    const malformed = await send(port, 'PUT', '/portal-api/users/1', { authorization: ADMIN }, '{');
    expect(malformed.status).toBe(400);
    const page = await send(port, 'GET', '/sso?nonce=nope');
    expect([page.status, page.headers['content-type']]).toEqual([401, 'text/html; charset=utf-8']);
    expect(fallbacks).toEqual([]);
  });

  it('should leave other routes, methods and unusual requests to Express', async () => {
    const auth = { authorization: SECRET };
    const cases: [string, string, Record<string, string>?][] = [
      ['GET', '/'],
      ['GET', '/api/sso', auth],
      ['HEAD', '/api/portal/developers/ssokey/x', auth],
      ['GET', '/api/portal/developers/ssokey/x', { ...auth, 'if-none-match': '"x"' }],
      ['GET', '/api/portal/developers/ssokey/x', { ...auth, 'if-modified-since': 'Thu, 01 Jan 2026 00:00:00 GMT' }],
      ['GET', '/api/portal/developers/ssokey/', auth],
      ['GET', '/api/portal/developers/ssokey/%E0%A4%A', auth],
      ['GET', '/API/portal/developers/ssokey/x', auth],
      ['GET', '/api/portal/developers/ssokey/x/', auth],
      ['GET', '/api/portal/developers/ssokey/x#y', auth],
      ['POST', '/api/sso/', auth],
      ['POST', '/api//sso', auth],
      ['DELETE', '/portal-api/users/1'],
      ['POST', '/portal-api/users'],
      ['GET', '/portal-api/organisations'],
      ['GET', '/portal-api/organisations/1'],
      ['GET', '/sso?nonce=x', { accept: 'text/html' }],
      ['GET', '/sso/?nonce=x'],
      ['POST', '/__emulator/faults'],
    ];
    for (const [method, path, headers] of cases) {
      expect({ method, path, status: (await send(port, method, path, headers)).status }).toEqual({
        method,
        path,
        status: FALLBACK,
      });
    }
    expect(fallbacks).toHaveLength(cases.length);
  });
});
