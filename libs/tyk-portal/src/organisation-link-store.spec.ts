import { InMemoryOrganisationLinkStore } from './organisation-link-store.js';
import { InMemoryTokenCache } from './token-cache.js';

describe('InMemoryOrganisationLinkStore', () => {
  it('should run create once for concurrent claims of one organisation', async () => {
    const store = new InMemoryOrganisationLinkStore();
    let calls = 0;
    const create = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 20));
      return { portalOrgId: `org-${calls}`, portalTeamId: 't' };
    };
    const results = await Promise.all([1, 2, 3, 4].map(() => store.claim('https://idp-a', 'ce-1', create)));
    expect(calls).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.link.portalOrgId))).toEqual(new Set(['org-1']));
    expect(await store.find('https://idp-a', 'ce-1')).toEqual({ portalOrgId: 'org-1', portalTeamId: 't' });
    expect(await store.find('https://idp-a', 'ce-2')).toBeNull();
    // Another IdP's organisation with the same id is another company.
    expect(await store.find('https://idp-b', 'ce-1')).toBeNull();
  });

  it('should let a later claim create again after a failed create', async () => {
    const store = new InMemoryOrganisationLinkStore();
    await expect(store.claim('https://idp-a', 'ce-1', () => Promise.reject(new Error('portal down')))).rejects.toThrow(
      'portal down',
    );
    const again = await store.claim('https://idp-a', 'ce-1', () => Promise.resolve({ portalOrgId: '5' }));
    expect(again).toEqual({ link: { portalOrgId: '5' }, created: true });
  });

  it("should hand a failed attempt's intent to the next create and refuse adopting a linked organisation", async () => {
    const store = new InMemoryOrganisationLinkStore();
    await store.claim('https://idp-a', 'ce-9', () => Promise.resolve({ portalOrgId: 'taken' }));
    await expect(
      store.claim('https://idp-a', 'ce-1', async (attempt) => {
        await attempt.recordIntent('Acme');
        throw new Error('socket hang up');
      }),
    ).rejects.toThrow('socket hang up');
    await expect(
      store.claim('https://idp-a', 'ce-1', async (attempt) => {
        expect(attempt.pendingNames).toEqual(['Acme']);
        expect(await attempt.linked(['taken', 'free'])).toEqual(new Set(['taken']));
        return { portalOrgId: 'taken', adopted: true };
      }),
    ).rejects.toThrow('already linked');
    const adopted = await store.claim('https://idp-a', 'ce-1', (attempt) => {
      expect(attempt.pendingNames).toEqual(['Acme']);
      return Promise.resolve({ portalOrgId: 'free', portalTeamId: 't', adopted: true });
    });
    expect(adopted).toEqual({ link: { portalOrgId: 'free', portalTeamId: 't' }, created: true });
  });
});

describe('InMemoryTokenCache', () => {
  it('should return what was set and null for unknown keys', async () => {
    const cache = new InMemoryTokenCache();
    expect(await cache.get('k')).toBeNull();
    await cache.set('k', 'v1');
    await cache.set('k', 'v2');
    expect(await cache.get('k')).toBe('v2');
  });
});
