import { jest } from '@jest/globals';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { testSlices } from '@test/support/config.js';
import { IdpHttpClient, IdpUnreachableError } from './idp-http.client.js';

/** Small, and unusual enough that the spies below can tell the call's timer from any other. */
const DEADLINE_MS = 601;

describe('IdpHttpClient deadline per call', () => {
  let server: Server;
  let url: string;
  let idp: IdpHttpClient;
  const drips = new Set<NodeJS.Timeout>();

  beforeAll(async () => {
    server = createServer((req, res: ServerResponse) => {
      if (req.url === '/drip') {
        // Headers at once, then one byte every third of the timeout, forever: each byte restarts
        // undici's body (idle) timeout, so only a deadline for the whole call ends it.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        const drip = setInterval(() => {
          if (res.destroyed) {
            clearInterval(drip);
            drips.delete(drip);
          } else {
            res.write(' ');
          }
        }, DEADLINE_MS / 3);
        drips.add(drip);
        res.on('close', () => {
          clearInterval(drip);
          drips.delete(drip);
        });
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    idp = new IdpHttpClient(testSlices({ BROKER_IDP_TIMEOUT_MS: String(DEADLINE_MS) }).oidc);
  });

  afterAll(async () => {
    await idp?.onModuleDestroy();
    for (const drip of drips) clearInterval(drip);
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  afterEach(() => jest.restoreAllMocks());

  it('should end a call whose answer is dripped slower than the deadline but faster than the idle timeout', async () => {
    const started = performance.now();
    let guard: NodeJS.Timeout | undefined;
    // Without a deadline the drip holds the call for ever: stop watching well after it should end.
    const outcome = await Promise.race([
      idp.request({ method: 'GET', url: `${url}/drip` }).then(
        () => 'answered',
        (error: unknown) => error,
      ),
      new Promise((resolve) => (guard = setTimeout(() => resolve('still running'), 10 * DEADLINE_MS))),
    ]);
    clearTimeout(guard);
    const elapsed = performance.now() - started;
    expect(outcome).toBeInstanceOf(IdpUnreachableError);
    expect((outcome as IdpUnreachableError).reason).toBe('timeout');
    // About the deadline; the bound is loose for a loaded 2-core machine.
    expect(elapsed).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(elapsed).toBeLessThan(5 * DEADLINE_MS);
  });

  it('should end the call when the caller aborts first', async () => {
    const caller = new AbortController();
    setTimeout(() => caller.abort(), 50);
    const started = performance.now();
    await expect(idp.request({ method: 'GET', url: `${url}/drip`, signal: caller.signal })).rejects.toMatchObject({
      reason: 'timeout',
    });
    expect(performance.now() - started).toBeLessThan(DEADLINE_MS);
  });

  it('should clear the deadline timer when the call is answered', async () => {
    const set = jest.spyOn(globalThis, 'setTimeout');
    const clear = jest.spyOn(globalThis, 'clearTimeout');
    const ok = await idp.request({ method: 'GET', url: `${url}/fine` });
    expect(ok).toEqual({ status: 200, contentType: 'application/json', body: '{"ok":true}' });
    const deadlines = set.mock.calls.flatMap((args, i) => (args[1] === DEADLINE_MS ? [set.mock.results[i].value] : []));
    // One deadline for the call, and cleared: a deadline left running keeps its timer and
    // controller alive for the whole timeout after every IdP call (several a login).
    expect(deadlines).toHaveLength(1);
    const cleared = new Set(clear.mock.calls.map((args) => args[0]));
    expect(cleared.has(deadlines[0] as NodeJS.Timeout)).toBe(true);
  });
});
