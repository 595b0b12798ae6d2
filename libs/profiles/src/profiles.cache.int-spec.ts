import net from 'node:net';
import { jest } from '@jest/globals';
import type { DatabaseConfig } from '@app/config';
import { createTestDatabase, singleConnection, type TestDatabase } from '@test/support/database.js';
import type { DataSource } from 'typeorm';
import type { TibProfile } from './profile.model.js';
import { ProfilesCache, type ProfilesCacheTimings } from './profiles.cache.js';
import { ProfilesRepository } from './profiles.repository.js';

/**
 * The cache's LISTEN connection against a real Postgres, through a TCP proxy that can drop a
 * connection silently: what a NAT or load balancer idle timeout, or a failover, does (no FIN, no
 * RST: the client sees neither an error nor an end). Timings are shortened; the production values
 * are in profiles.cache.ts. Limits are generous (a loaded 2-core CI machine): what a test proves is
 * which path brought a change (reconnect, notification, full reload), not how fast.
 */
const profile = (id: string, name: string): TibProfile => ({
  ID: id,
  Name: name,
  OrgID: '',
  ActionType: 'GenerateOrLoginDeveloperProfile',
  MatchedPolicyID: '',
  Type: '',
  ProviderName: 'SocialProvider',
  CustomEmailField: '',
  CustomUserIDField: '',
  ProviderConfig: null,
  IdentityHandlerConfig: null,
  ProviderConstraints: { Domain: '', Group: '' },
  ReturnURL: '',
  DefaultUserGroupID: '',
  CustomUserGroupField: '',
  UserGroupMapping: null,
  UserGroupSeparator: '',
  SSOOnlyForRegisteredUsers: false,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds; returns how long that took, or throws after `ms`. */
async function within(ms: number, check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await sleep(20);
  }
  return Date.now() - start;
}

describe('ProfilesCache LISTEN connection (real Postgres)', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let repo: ProfilesRepository;
  let proxy: net.Server;
  let proxyUrl: string;
  /** Connections through the proxy; a dropped one forwards nothing any more, in either direction. */
  const links: { client: net.Socket; upstream: net.Socket; dropped: boolean; closed: boolean }[] = [];
  const caches: ProfilesCache[] = [];
  /** While set, what new connections send waits here (a slow network), until released. */
  let held: (() => void)[] | null = null;

  beforeAll(async () => {
    db = await createTestDatabase('pc');
    ds = await singleConnection(db.url);
    repo = new ProfilesRepository(ds);
    const target = new URL(db.url);
    proxy = net.createServer((client) => {
      const upstream = net.connect(Number(target.port), target.hostname);
      const link = { client, upstream, dropped: false, closed: false };
      links.push(link);
      client.on('close', () => {
        link.closed = true;
      });
      client.on('data', (d) => {
        if (link.dropped) return;
        if (held) held.push(() => upstream.write(d));
        else upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!link.dropped) client.write(d);
      });
      // A silently dropped path delivers no FIN either.
      client.on('end', () => {
        if (!link.dropped) upstream.end();
      });
      upstream.on('end', () => {
        if (!link.dropped) client.end();
      });
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    const url = new URL(db.url);
    url.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
    proxyUrl = url.toString();
  }, 60000);

  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.onApplicationShutdown()));
  });

  afterAll(async () => {
    for (const l of links) {
      l.client.destroy();
      l.upstream.destroy();
    }
    await new Promise((resolve) => proxy.close(resolve));
    await ds.destroy();
    await db.drop();
  });

  async function startCache(timings: Partial<ProfilesCacheTimings>): Promise<ProfilesCache> {
    const cache = new ProfilesCache({ url: proxyUrl } as DatabaseConfig, repo, timings);
    caches.push(cache);
    await cache.start();
    return cache;
  }

  async function write(id: string, name: string, notify = true): Promise<void> {
    await repo.transaction(async (m) => {
      if (await repo.findById(id, m)) await repo.replace(profile(id, name), m);
      else await repo.insert(profile(id, name), m);
      if (notify) await repo.notifyChanged(id, m);
    });
  }

  async function remove(id: string): Promise<void> {
    await repo.transaction(async (m) => {
      await repo.delete(id, m);
      await repo.notifyChanged(id, m);
    });
  }

  it('should reconnect and reload within the heartbeat after the connection died silently', async () => {
    await write('p1', 'v1');
    await write('p2', 'to-be-deleted');
    // No full reload during the test: only the heartbeat's reconnect can bring the changes.
    const heartbeat: Partial<ProfilesCacheTimings> = { heartbeatMs: 400, timeoutMs: 1000, fullReloadMs: 3_600_000 };
    const cache = await startCache(heartbeat);
    expect(cache.get('p1')?.profile.Name).toBe('v1');
    expect(cache.get('p2')).toBeDefined();
    const before = links.length;

    // The path drops silently; meanwhile another instance changes one profile and deletes another.
    for (const l of links) l.dropped = true;
    await write('p1', 'v2');
    await remove('p2');

    // One heartbeat period, one heartbeat timeout, then the reconnect (500 ms) and reload.
    await within(15_000, () => cache.get('p1')?.profile.Name === 'v2');
    expect(cache.get('p2')).toBeUndefined();
    expect(links.length).toBeGreaterThan(before); // a new connection, not the dead one

    // And it listens again: a healthy heartbeat reloads nothing, so only a notification brings v3.
    await write('p1', 'v3');
    await within(10_000, () => cache.get('p1')?.profile.Name === 'v3');
  }, 30000);

  it('should close a new LISTEN connection whose reload failed, keeping exactly one once it recovers', async () => {
    await write('p4', 'v1');
    const cache = await startCache({ heartbeatMs: 300, timeoutMs: 1000, fullReloadMs: 3_600_000 });
    const findAll = jest.spyOn(repo, 'findAll').mockRejectedValueOnce(new Error('database busy'));
    const before = links.length;
    try {
      for (const l of links) l.dropped = true;
      await write('p4', 'v2');
      await within(15_000, () => cache.get('p4')?.profile.Name === 'v2');
      // The failed reload after the first reconnect, then (at least) the one that worked.
      expect(findAll.mock.calls.length).toBeGreaterThanOrEqual(2);
      await expect(findAll.mock.results[0].value).rejects.toThrow('database busy');
    } finally {
      findAll.mockRestore();
    }
    expect(links.length).toBeGreaterThanOrEqual(before + 2); // the failed reconnect's and the retry's
    // The connection whose reload failed is closed: one live connection, once the close arrived.
    await within(5000, () => links.filter((l) => !l.dropped && !l.closed).length === 1);
    await sleep(300);
    expect(links.filter((l) => !l.dropped && !l.closed).length).toBe(1);
  }, 30000);

  it('should close a connection a reconnect opens after the cache was shut down', async () => {
    const cache = await startCache({ heartbeatMs: 200, timeoutMs: 1000, fullReloadMs: 3_600_000 });
    for (const l of links) l.dropped = true;
    held = [];
    const before = links.length;
    // The heartbeat gives up, the reconnect starts and waits on the slow network.
    await within(5000, () => links.length > before);
    await cache.onApplicationShutdown();
    const release = held;
    held = null;
    for (const send of release) send();
    await within(5000, () => links.slice(before).every((l) => l.closed));
  }, 30000);

  it('should pick up a change it was never notified of by the periodic full reload', async () => {
    await write('p3', 'v1');
    await write('p5', 'same');
    const cache = await startCache({ heartbeatMs: 3_600_000, fullReloadMs: 500 });
    const unchanged = cache.get('p5');
    expect(unchanged?.profile.Name).toBe('same');
    expect(cache.get('p3')?.profile.Name).toBe('v1');
    await write('p3', 'v2', false);
    await within(10_000, () => cache.get('p3')?.profile.Name === 'v2');
    // Rows that did not change keep their object (what the login path derived from it stays valid).
    expect(cache.get('p5')).toBe(unchanged);
  }, 30000);
});
