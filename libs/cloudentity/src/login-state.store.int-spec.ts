import { databaseOptions } from '@app/database';
import { DataSource } from 'typeorm';
import { testSlices } from '@test/support/config.js';
import { commitModeOf, createTestDatabase, singleConnection, type TestDatabase } from '@test/support/database.js';
import { LoginStateRepository } from './login-state.repository.js';
import { LoginStateStore } from './login-state.store.js';
import { randomToken } from './oidc-crypto.js';

describe('LoginStateStore (real Postgres)', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let store: LoginStateStore;

  beforeAll(async () => {
    db = await createTestDatabase('loginstate');
    const config = testSlices({ DATABASE_URL: db.url });
    ds = new DataSource(databaseOptions(config.database));
    await ds.initialize();
    store = new LoginStateStore(new LoginStateRepository(ds), config.oidc);
  });

  afterAll(async () => {
    await ds?.destroy();
    await db?.drop();
  });

  const state = (handle = randomToken()) => ({
    handle,
    profileId: 'p1',
    provider: 'openid-connect',
    nonce: randomToken(),
    codeVerifier: randomToken(),
    browserBinding: null,
  });

  it('should hand a state back exactly once', async () => {
    const saved = state();
    await store.save(saved);
    await expect(store.consume(saved.handle, 'p1', 'openid-connect', null)).resolves.toEqual({
      nonce: saved.nonce,
      codeVerifier: saved.codeVerifier,
    });
    await expect(store.consume(saved.handle, 'p1', 'openid-connect', null)).resolves.toBeNull();
  });

  it('should hand a state out only once under concurrent consumers', async () => {
    const saved = state();
    await store.save(saved);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => store.consume(saved.handle, 'p1', 'openid-connect', null)),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });

  it('should not hand out a state for another profile or provider, nor a malformed handle', async () => {
    const saved = state();
    await store.save(saved);
    await expect(store.consume(saved.handle, 'p2', 'openid-connect', null)).resolves.toBeNull();
    await expect(store.consume(saved.handle, 'p1', 'github', null)).resolves.toBeNull();
    await expect(store.consume("x' OR '1'='1", 'p1', 'openid-connect', null)).resolves.toBeNull();
    await expect(store.consume(saved.handle, 'p1', 'openid-connect', null)).resolves.not.toBeNull();
  });

  it('should consume a browser-bound state only with its binding, leaving it in place for any other caller', async () => {
    const saved = { ...state(), browserBinding: 'a'.repeat(64) };
    await store.save(saved);
    await expect(store.consume(saved.handle, 'p1', 'openid-connect', 'b'.repeat(64))).resolves.toBeNull();
    await expect(store.consume(saved.handle, 'p1', 'openid-connect', null)).resolves.toBeNull();
    await expect(store.consume(saved.handle, 'p1', 'openid-connect', 'a'.repeat(64))).resolves.toEqual({
      nonce: saved.nonce,
      codeVerifier: saved.codeVerifier,
    });
    await expect(store.consume(saved.handle, 'p1', 'openid-connect', 'a'.repeat(64))).resolves.toBeNull();
    // A state stored without a binding (library callers without a cookie) completes with any.
    const unbound = state();
    await store.save(unbound);
    await expect(store.consume(unbound.handle, 'p1', 'openid-connect', 'c'.repeat(64))).resolves.not.toBeNull();
  });

  it('should refuse an expired state and purge only expired rows', async () => {
    const expired = state();
    const live = state();
    await store.save(expired);
    await store.save(live);
    await ds.query(`UPDATE login_states SET expires_at = now() - interval '1 second' WHERE handle = $1`, [
      expired.handle,
    ]);
    expect(await store.purgeExpired()).toBeGreaterThanOrEqual(1);
    const rows: { handle: string }[] = await ds.query('SELECT handle FROM login_states');
    expect(rows.map((r) => r.handle)).toContain(live.handle);
    expect(rows.map((r) => r.handle)).not.toContain(expired.handle);

    const another = state();
    await store.save(another);
    await ds.query(`UPDATE login_states SET expires_at = now() - interval '1 second' WHERE handle = $1`, [
      another.handle,
    ]);
    await expect(store.consume(another.handle, 'p1', 'openid-connect', null)).resolves.toBeNull();
  });

  // The audit event the login writes last commits synchronously and makes these durable (ASYNC_COMMIT).
  describe('commit mode', () => {
    let single: DataSource;
    let singleStore: LoginStateStore;

    beforeAll(async () => {
      single = await singleConnection(db.url);
      singleStore = new LoginStateStore(new LoginStateRepository(single), testSlices({ DATABASE_URL: db.url }).oidc);
    });

    afterAll(async () => {
      await single?.destroy();
    });

    it('should commit a saved state without waiting for the WAL flush, for that transaction only', async () => {
      await expect(commitModeOf(single, () => singleStore.save(state()))).resolves.toEqual({
        atCommit: 'off',
        after: 'on',
      });
    });

    it("should not flush the WAL per saved state (Postgres' own count of WAL writes)", async () => {
      // A synchronous commit writes (and, with fsync on, syncs) the WAL up to its record; an
      // asynchronous one leaves that to the WAL writer, which batches. The test server runs with
      // fsync off, so the writes are what can be counted. This connection's pending statistics are
      // published before each count.
      const writes = async () => {
        await single.query('SELECT pg_stat_force_next_flush()');
        const [row] = await single.query<{ n: number }[]>(
          `SELECT coalesce(sum(writes), 0)::int AS n FROM pg_stat_io WHERE object = 'wal'`,
        );
        return row?.n ?? 0;
      };
      const start = await writes();
      for (let i = 0; i < 100; i++) await singleStore.save(state());
      const saved = (await writes()) - start;
      // The same insert with an ordinary commit, for comparison: one WAL write each.
      const control = await writes();
      for (let i = 0; i < 100; i++) {
        await single.query(
          `INSERT INTO login_states (handle, profile_id, provider, nonce, code_verifier, expires_at)
           VALUES ($1, 'p1', 'openid-connect', 'n', 'v', now() + interval '1 minute')`,
          [randomToken()],
        );
      }
      const ordinary = (await writes()) - control;
      expect(ordinary).toBeGreaterThanOrEqual(100);
      expect(saved).toBeLessThan(20);
    });

    it('should commit a consumed state asynchronously, and leave a consume that found nothing alone', async () => {
      const saved = state();
      await store.save(saved);
      const consumed = await commitModeOf(single, async () => {
        await expect(singleStore.consume(saved.handle, 'p1', 'openid-connect', null)).resolves.not.toBeNull();
      });
      expect(consumed).toEqual({ atCommit: 'off', after: 'on' });
      await expect(
        commitModeOf(single, () => singleStore.consume(randomToken(), 'p1', 'openid-connect', null)),
      ).resolves.toEqual({ atCommit: 'on', after: 'on' });
    });
  });
});
