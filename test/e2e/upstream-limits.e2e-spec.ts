import { DomainError } from '@app/common';
import { BrokerConfigModule } from '@app/config';
import { IdpHttpClient } from '@app/cloudentity';
import { TykPortalClient, TykPortalModule } from '@app/tyk-portal';
import { Test, type TestingModule } from '@nestjs/testing';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { testConfig, testSlices } from '@test/support/broker.js';

/**
 * The two upstream HTTP clients (undici) against a raw server that misbehaves: an answer larger
 * than the client reads, and one whose headers come too late. Neither may hang a login or make
 * the broker buffer without bound.
 */
describe('upstream HTTP limits (IdP and portal clients against a misbehaving server)', () => {
  let server: http.Server;
  let url: string;
  let portal: TestingModule;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url?.includes('huge')) {
        // 12 MB: over the portal client's 10 MB and the IdP client's 1 MB.
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        for (let i = 0; i < 12; i++) res.write(chunk);
        res.end('{}');
      } else if (req.url?.includes('slow')) {
        setTimeout(() => {
          if (!res.destroyed) res.end('{}');
        }, 1500);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    portal = await Test.createTestingModule({
      imports: [
        BrokerConfigModule.forRoot(
          testConfig({
            TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: 'http://127.0.0.1',
            TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: new URL(url).port,
            TYK_PORTAL_TIMEOUT_MS: '300',
            TYK_PORTAL_RETRIES: '0',
          }),
        ),
        TykPortalModule.forRoot(),
      ],
    }).compile();
    portal.useLogger(false);
    await portal.init();
  });

  afterAll(async () => {
    await portal?.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function codeOf(promise: Promise<unknown>): Promise<string> {
    try {
      await promise;
    } catch (error) {
      if (error instanceof DomainError) return error.code;
      if (error instanceof Error) return `${error.name}:${error.message}`;
    }
    return 'no error';
  }

  it('should refuse a portal answer over 10 MB as a malformed answer (portal_rejected)', async () => {
    const client = portal.get(TykPortalClient);
    expect(await codeOf(client.findDeveloperBySsoKey('huge', 'secret'))).toBe('portal_rejected');
  });

  it('should give up on a portal that does not answer within the timeout (portal_timeout)', async () => {
    const client = portal.get(TykPortalClient);
    const started = Date.now();
    expect(await codeOf(client.findDeveloperBySsoKey('slow', 'secret'))).toBe('portal_timeout');
    expect(Date.now() - started).toBeLessThan(1400);
  });

  it('should refuse an IdP answer over 1 MB (too_large) and a late one (timeout), and read a normal one', async () => {
    const idp = new IdpHttpClient(testSlices({ BROKER_IDP_TIMEOUT_MS: '300' }).oidc);
    try {
      expect(await codeOf(idp.request({ method: 'GET', url: `${url}/huge` }))).toBe(
        'IdpUnreachableError:identity provider unreachable (too_large)',
      );
      expect(await codeOf(idp.request({ method: 'GET', url: `${url}/slow` }))).toBe(
        'IdpUnreachableError:identity provider unreachable (timeout)',
      );
      const ok = await idp.request({ method: 'GET', url: `${url}/fine` });
      expect(ok).toEqual({ status: 200, contentType: 'application/json', body: '{"ok":true}' });
    } finally {
      await idp.onModuleDestroy();
    }
  });
});
