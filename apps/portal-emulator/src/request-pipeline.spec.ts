import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmulatorContext } from './emulator.context.js';
import { EmulatorState } from './emulator.state.js';
import { requestFront, type EmulatorRequest, type LeanRouter } from './request-pipeline.js';

function send(port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string; type?: string }>((resolve, reject) => {
    const sent = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = request({ host: '127.0.0.1', port, method, path, headers: sent, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          body: Buffer.concat(chunks).toString('utf8'),
          type: res.headers['content-type'],
        }),
      );
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('requestFront', () => {
  let ctx: EmulatorContext;
  let server: Server;
  let port: number;
  /** What reached "Express" (everything here: the lean router answers nothing unless a test says so). */
  let reached: { path: string; body: unknown }[];
  let lean: LeanRouter;

  async function start(maxRecordedRequests: number) {
    ctx = {
      state: new EmulatorState(60_000),
      apiSecret: 's',
      adminToken: 'a',
      faults: null,
      faultMatches: 0,
      requests: [],
      maxRecordedRequests,
    };
    reached = [];
    lean = () => false;
    const express = (req: IncomingMessage, res: ServerResponse) => {
      reached.push({ path: req.url ?? '', body: (req as EmulatorRequest).jsonBody });
      res.end('express');
    };
    server = createServer(requestFront(ctx, express, (...args) => lean(...args)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  }

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('should keep only the last maxRecordedRequests requests, oldest first', async () => {
    await start(3);
    for (let i = 1; i <= 5; i++) await send(port, 'POST', `/api/r${i}?q=${i}`, JSON.stringify({ i }));
    expect(ctx.requests.map((r) => [r.path, r.body])).toEqual([
      ['/api/r3', { i: 3 }],
      ['/api/r4', { i: 4 }],
      ['/api/r5', { i: 5 }],
    ]);
    ctx.requests.splice(0);
    await send(port, 'GET', '/x', undefined, { 'x-test': 'yes' });
    expect(ctx.requests).toEqual([expect.objectContaining({ method: 'GET', path: '/x', body: undefined })]);
    expect(ctx.requests[0].headers['x-test']).toBe('yes');
  });

  it('should record nothing when maxRecordedRequests is 0, and never the control routes', async () => {
    await start(0);
    await send(port, 'POST', '/api/sso', '{}');
    expect(ctx.requests).toEqual([]);
    ctx.maxRecordedRequests = 10;
    await send(port, 'POST', '/__emulator/faults', '{}');
    await send(port, 'GET', '/');
    expect(ctx.requests.map((r) => r.path)).toEqual(['/']);
    expect(reached.map((r) => r.path)).toEqual(['/api/sso', '/__emulator/faults', '/']);
  });

  it('should hand the body over as empty, JSON or malformed whatever the Content-Type', async () => {
    await start(10);
    await send(port, 'GET', '/none');
    await send(port, 'POST', '/blank', '  \n');
    await send(port, 'POST', '/json', '{"a":[1]}', { 'content-type': 'text/plain' });
    await send(port, 'POST', '/bad', '{"a":');
    expect(reached.map((r) => r.body)).toEqual([
      { kind: 'empty' },
      { kind: 'empty' },
      { kind: 'json', value: { a: [1] } },
      { kind: 'malformed' },
    ]);
    expect(ctx.requests.map((r) => r.body)).toEqual([undefined, undefined, { a: [1] }, '{"a":']);
  });

  it('should fail faulted paths with the surface error shape before any route sees them', async () => {
    await start(10);
    ctx.faults = { failStatus: 502, paths: ['/api/', '/portal-api/'] };
    const dashboard = await send(port, 'POST', '/api/sso', '{}');
    expect([dashboard.status, dashboard.type, JSON.parse(dashboard.body)]).toEqual([
      502,
      'application/json; charset=utf-8',
      { Status: 'error', Message: 'Injected fault (HTTP 502)', Meta: null },
    ]);
    const management = await send(port, 'GET', '/portal-api/users');
    expect([management.status, JSON.parse(management.body)]).toEqual([502, { errors: ['Injected fault (HTTP 502)'] }]);
    expect((await send(port, 'GET', '/sso')).status).toBe(200);
    expect(reached.map((r) => r.path)).toEqual(['/sso']);
    expect(ctx.requests).toHaveLength(3);
  });

  it('should carry a request out and lose its answer (reset, or failStatus) only for the faulted methods', async () => {
    await start(10);
    const ran: string[] = [];
    lean = (req, res, path) => {
      if (path !== '/portal-api/organisations') return false;
      ran.push(req.method ?? '');
      res.setHeader('X-Route', 'lean');
      res.end(JSON.stringify({ ID: '7', Name: 'made' }));
      return true;
    };
    ctx.faults = { loseAnswer: true, methods: ['POST'], paths: ['/portal-api/organisations'] };
    const reset = await send(port, 'POST', '/portal-api/organisations', '{"Name":"a"}').then(
      (answer) => answer,
      (error: NodeJS.ErrnoException) => error.code,
    );
    expect(reset).toBe('ECONNRESET');
    ctx.faults = { loseAnswer: true, failStatus: 503, methods: ['POST'] };
    const lost = await send(port, 'POST', '/portal-api/organisations', '{"Name":"b"}');
    expect([lost.status, JSON.parse(lost.body)]).toEqual([503, { errors: ['Injected fault (HTTP 503)'] }]);
    // A GET is not faulted: the route answers.
    expect((await send(port, 'GET', '/portal-api/organisations')).body).toBe('{"ID":"7","Name":"made"}');
    // The routes ran for the two POSTs: their effects stay, only the answers were lost.
    expect(ran).toEqual(['POST', 'POST', 'GET']);
    ctx.faults = { loseAnswer: true, failStatus: 500 };
    expect((await send(port, 'GET', '/elsewhere')).status).toBe(500);
    expect(reached.map((r) => r.path)).toEqual(['/elsewhere']);
  });

  it('should fault only the matching requests skip lets past, as many as times says', async () => {
    await start(10);
    ctx.faults = { failStatus: 500, methods: ['PUT'], skip: 1, times: 1 };
    const statuses: number[] = [];
    for (const method of ['PUT', 'GET', 'PUT', 'PUT']) {
      statuses.push((await send(port, method, '/portal-api/users/1')).status);
    }
    // The first PUT is skipped, the GET does not match, the second PUT fails, the third is past `times`.
    expect(statuses).toEqual([200, 200, 500, 200]);
    expect(ctx.faultMatches).toBe(3);
  });

  it('should delay by latencyMs and then let the lean router answer', async () => {
    await start(10);
    lean = (_req, res, path) => {
      if (path !== '/fast') return false;
      res.end('lean');
      return true;
    };
    ctx.faults = { latencyMs: 120 };
    const started = Date.now();
    expect((await send(port, 'GET', '/fast')).body).toBe('lean');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect((await send(port, 'GET', '/slow')).body).toBe('express');
  });

  it('should answer 413 to a body over 1 MiB and hand it to nobody', async () => {
    await start(10);
    const outcome = await send(port, 'POST', '/api/sso', 'x'.repeat(1024 * 1024 + 1)).then(
      (answer) => answer.status,
      () => 'reset',
    );
    // The connection is destroyed as the body is cut off; the client sees the 413 or a reset.
    expect([413, 'reset']).toContain(outcome);
    expect(reached).toEqual([]);
    expect(ctx.requests).toEqual([]);
  });
});
