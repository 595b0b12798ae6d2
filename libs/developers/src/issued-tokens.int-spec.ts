import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { DevelopersModule } from './developers.module.js';
import { IssuedTokensStore } from './issued-tokens.store.js';

const SESSION_SECRET = 'issued-tokens-session-secret-1';

describe('IssuedTokensStore (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let other: INestApplication;
  let store: IssuedTokensStore;
  let ds: DataSource;

  beforeAll(async () => {
    db = await createTestDatabase('issued_tokens');
    app = await createLibApp(db, DevelopersModule, { TYK_IB_SESSION_SECRET: SESSION_SECRET });
    await app.init();
    other = await createLibApp(db, DevelopersModule, { TYK_IB_SESSION_SECRET: 'another-session-secret-22' });
    await other.init();
    store = app.get(IssuedTokensStore);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await other?.close();
    await app?.close();
    await db?.drop();
  });

  it('should keep one sealed row per cache key, replaced by the next token', async () => {
    await store.set('identity-cache.p1-user@openid-connect.com', 'key-one', 600);
    await store.set('identity-cache.p1-user@openid-connect.com', 'key-two', 600);
    expect(await store.get('identity-cache.p1-user@openid-connect.com')).toBe('key-two');
    expect(await store.get('identity-cache.p2-user@openid-connect.com')).toBeNull();
    const rows = await ds.query<{ sealed: Buffer; lookup: Buffer }[]>('SELECT lookup, sealed FROM issued_tokens');
    expect(rows).toHaveLength(1);
    expect(rows[0].sealed.toString('latin1')).not.toContain('key-two');
    expect(rows[0].lookup.toString('latin1')).not.toContain('user@openid-connect.com');
  });

  it('should forget a token once it has expired, and purge expired rows on the next write', async () => {
    await store.set('identity-cache.p3-a', 'expiring-key', 60);
    await store.set('identity-cache.p3-b', 'forever-key');
    await ds.query(`UPDATE issued_tokens SET expires_at = now() - interval '1 second' WHERE expires_at IS NOT NULL`);
    expect(await store.get('identity-cache.p3-a')).toBeNull();
    await store.set('identity-cache.p3-c', 'fresh-key', 60);
    const [{ count }] = await ds.query<{ count: string }[]>(
      'SELECT count(*)::text AS count FROM issued_tokens WHERE expires_at <= now()',
    );
    expect(count).toBe('0');
    expect(await store.get('identity-cache.p3-b')).toBe('forever-key');
  });

  it('should not keep a token longer than 4 KB', async () => {
    await store.set('identity-cache.p4-a', 'x'.repeat(5000), 60);
    expect(await store.get('identity-cache.p4-a')).toBeNull();
  });

  it('should read nothing under another session secret (other lookup, other seal)', async () => {
    await store.set('identity-cache.p5-a', 'key-five', 60);
    expect(await other.get(IssuedTokensStore).get('identity-cache.p5-a')).toBeNull();
  });
});
