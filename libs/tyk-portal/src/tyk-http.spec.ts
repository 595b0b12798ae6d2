import { jest } from '@jest/globals';
import { BrokerConfigModule } from '@app/config';
import { Test, type TestingModule } from '@nestjs/testing';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testConfig } from '@test/support/config.js';
import { TykHttp, type TykRequest } from './tyk-http.js';
import { TykPortalModule } from './tyk-portal.module.js';

/** An unusual deadline, so the spies below can tell the attempt's timer from any other. */
const DEADLINE_MS = 43_217;

describe('TykHttp per-attempt deadline', () => {
  let server: Server;
  let module: TestingModule;
  let http: TykHttp;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/reset') {
        req.socket.resetAndDestroy();
        return;
      }
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    module = await Test.createTestingModule({
      imports: [
        BrokerConfigModule.forRoot(
          testConfig({
            TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: 'http://127.0.0.1',
            TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: String(port),
            TYK_PORTAL_TIMEOUT_MS: String(DEADLINE_MS),
            TYK_PORTAL_RETRIES: '0',
          }),
        ),
        TykPortalModule.forRoot(),
      ],
    }).compile();
    http = module.get(TykHttp);
  });

  afterAll(async () => {
    await module?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  afterEach(() => jest.restoreAllMocks());

  const call = (path: string, method: TykRequest['method'] = 'GET'): TykRequest => ({
    target: 'portal',
    method,
    path,
    endpoint: path,
    headers: {},
    idempotent: method !== 'POST',
  });

  it('should clear the deadline timer of every attempt when it ends: answered, failed with a status, or cut off', async () => {
    const set = jest.spyOn(globalThis, 'setTimeout');
    const clear = jest.spyOn(globalThis, 'clearTimeout');
    const outcomes = await Promise.all([
      http.send(call('/ok')).then((r) => r.status),
      http.send(call('/ok', 'POST')).then((r) => r.status),
      http.send(call('/fail')).then((r) => r.status),
      http.send(call('/reset', 'POST')).then(
        (r) => r.status,
        (error: { code?: string }) => error.code,
      ),
    ]);
    expect(outcomes).toEqual([200, 200, 500, 'portal_unreachable']);
    const deadlines = set.mock.calls.flatMap((args, i) => (args[1] === DEADLINE_MS ? [set.mock.results[i].value] : []));
    // One deadline per attempt (no retries here), and each one cleared: a deadline left running
    // keeps its timer and controller alive for the whole timeout after every portal call.
    expect(deadlines).toHaveLength(4);
    const cleared = new Set(clear.mock.calls.map((args) => args[0]));
    for (const timer of deadlines) expect(cleared.has(timer as NodeJS.Timeout)).toBe(true);
  });
});
