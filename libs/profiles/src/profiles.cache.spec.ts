import { jest } from '@jest/globals';
import type { DatabaseConfig } from '@app/config';
import type { StoredProfile, TibProfile } from './profile.model.js';
import { ProfilesCache } from './profiles.cache.js';
import type { ProfilesRepository } from './profiles.repository.js';

/**
 * The lookup on a cache miss (getOrLoad), the full reload and their races, with the repository's
 * answers under the test's control: the real reads are covered end to end (profiles e2e, the int
 * spec); what cannot be timed there is a change arriving while a read is in flight.
 */
function stored(id: string, version = 1): StoredProfile {
  return { profile: { ID: id } as TibProfile, version, updatedAt: new Date(1_000 * version) };
}

/** A findById whose answers the test releases one by one. */
function controlledRepository() {
  const calls: { id: string; answer: (p: StoredProfile | null) => void }[] = [];
  const findById = jest.fn(
    (id: string) => new Promise<StoredProfile | null>((resolve) => calls.push({ id, answer: resolve })),
  );
  return { repository: { findById } as unknown as ProfilesRepository, findById, calls };
}

const config = {} as DatabaseConfig;
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ProfilesCache.getOrLoad', () => {
  it('should read an unknown id once for a burst of requests, and keep what it found', async () => {
    const { repository, findById, calls } = controlledRepository();
    const cache = new ProfilesCache(config, repository);
    const burst = Array.from({ length: 5 }, () => cache.getOrLoad('p1'));
    expect(findById).toHaveBeenCalledTimes(1);
    calls[0].answer(stored('p1'));
    const answers = await Promise.all(burst);
    expect(new Set(answers)).toEqual(new Set([cache.get('p1')]));
    expect(cache.get('p1')?.profile.ID).toBe('p1');
    await cache.getOrLoad('p1');
    expect(findById).toHaveBeenCalledTimes(1);
  });

  it('should answer an id the database does not have from memory for a second, then read again', async () => {
    const now = jest.spyOn(Date, 'now').mockReturnValue(10_000);
    try {
      const { repository, findById, calls } = controlledRepository();
      const cache = new ProfilesCache(config, repository);
      const first = cache.getOrLoad('nope');
      calls[0].answer(null);
      await expect(first).resolves.toBeUndefined();
      now.mockReturnValue(10_999);
      await expect(cache.getOrLoad('nope')).resolves.toBeUndefined();
      expect(findById).toHaveBeenCalledTimes(1);
      now.mockReturnValue(11_001);
      const again = cache.getOrLoad('nope');
      expect(findById).toHaveBeenCalledTimes(2);
      calls[1].answer(stored('nope'));
      await expect(again).resolves.toMatchObject({ profile: { ID: 'nope' } });
    } finally {
      now.mockRestore();
    }
  });

  it('should not keep a profile read before a delete that arrived while the read was in flight', async () => {
    const { repository, calls } = controlledRepository();
    const cache = new ProfilesCache(config, repository);
    const pending = cache.getOrLoad('p1');
    cache.remove('p1'); // the delete's notification, newer than the row being read
    calls[0].answer(stored('p1'));
    await expect(pending).resolves.toBeUndefined();
    expect(cache.get('p1')).toBeUndefined();
  });

  it('should answer with a change that arrived while a read found nothing, and not remember the miss', async () => {
    const { repository, findById, calls } = controlledRepository();
    const cache = new ProfilesCache(config, repository);
    const pending = cache.getOrLoad('p1');
    const created = stored('p1', 2);
    cache.put(created); // this instance created it meanwhile
    calls[0].answer(null); // the read started before the row was visible
    await expect(pending).resolves.toBe(created);
    await expect(cache.getOrLoad('p1')).resolves.toBe(created);
    expect(findById).toHaveBeenCalledTimes(1);
  });

  it('should bound the remembered misses: beyond 1,000 ids they are forgotten together', async () => {
    const { repository, findById, calls } = controlledRepository();
    const cache = new ProfilesCache(config, repository);
    const miss = async (id: string) => {
      const pending = cache.getOrLoad(id);
      await settle();
      calls.at(-1)!.answer(null);
      await pending;
    };
    for (let i = 0; i < 1000; i++) await miss(`x${i}`);
    await cache.getOrLoad('x0');
    expect(findById).toHaveBeenCalledTimes(1000); // all 1,000 remembered
    await miss('x1000'); // the 1,001st clears them first
    const again = cache.getOrLoad('x1');
    expect(findById).toHaveBeenCalledTimes(1002);
    calls.at(-1)!.answer(null);
    await expect(again).resolves.toBeUndefined();
  });
});

describe('ProfilesCache full reload', () => {
  /** A findAll whose snapshot the test releases after other changes landed. */
  function slowFindAll() {
    let release!: (rows: StoredProfile[]) => void;
    const findAll = jest.fn(() => new Promise<StoredProfile[]>((resolve) => (release = resolve)));
    const repository = { findAll } as unknown as ProfilesRepository;
    return { repository, release: (rows: StoredProfile[]) => release(rows) };
  }
  const reloadAll = (cache: ProfilesCache) => (cache as unknown as { reloadAll(): Promise<void> }).reloadAll();

  it('should not undo an edit or bring back a delete that landed while its snapshot was read', async () => {
    const { repository, release } = slowFindAll();
    const cache = new ProfilesCache(config, repository);
    cache.put(stored('a', 1));
    cache.put(stored('b', 1));
    cache.put(stored('c', 1));
    const reload = reloadAll(cache); // the snapshot is read before the two changes below
    const edited = stored('a', 2);
    cache.put(edited); // this instance saved a
    cache.remove('b'); // this instance deleted b
    release([stored('a', 1), stored('b', 1), stored('c', 3), stored('d', 1)]);
    await reload;
    expect(cache.get('a')).toBe(edited);
    expect(cache.get('b')).toBeUndefined();
    // Ids nobody touched meanwhile still take the snapshot.
    expect(cache.get('c')?.version).toBe(3);
    expect(cache.get('d')?.version).toBe(1);
  });

  it('should drop an id the snapshot no longer has when nothing changed it meanwhile', async () => {
    const { repository, release } = slowFindAll();
    const cache = new ProfilesCache(config, repository);
    cache.put(stored('gone', 1));
    const reload = reloadAll(cache);
    release([]);
    await reload;
    expect(cache.get('gone')).toBeUndefined();
    // A later reload does not keep treating an id as changed.
    cache.put(stored('x', 1));
    const next = reloadAll(cache);
    release([]);
    await next;
    expect(cache.get('x')).toBeUndefined();
  });
});
