import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import type { DeveloperChangeEvent } from './developer.js';
import { DevelopersModule } from './developers.module.js';
import { DevelopersService } from './developers.service.js';
import { IssuedTokensStore } from './issued-tokens.store.js';

const SESSION_SECRET = 'issued-tokens-session-secret-1';
/** Rows without a developer: the store keeps them as well (the lib's own callers may have none). */
const OWNER = { profileId: 'p1', developerId: null };

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
    await store.set('identity-cache.p1-user@openid-connect.com', 'key-one', 600, OWNER);
    await store.set('identity-cache.p1-user@openid-connect.com', 'key-two', 600, OWNER);
    expect(await store.get('identity-cache.p1-user@openid-connect.com')).toBe('key-two');
    expect(await store.get('identity-cache.p2-user@openid-connect.com')).toBeNull();
    const rows = await ds.query<{ sealed: Buffer; lookup: Buffer }[]>('SELECT lookup, sealed FROM issued_tokens');
    expect(rows).toHaveLength(1);
    expect(rows[0].sealed.toString('latin1')).not.toContain('key-two');
    expect(rows[0].lookup.toString('latin1')).not.toContain('user@openid-connect.com');
  });

  it('should forget a token once it has expired, and purge expired rows on the next write', async () => {
    await store.set('identity-cache.p3-a', 'expiring-key', 60, OWNER);
    await store.set('identity-cache.p3-b', 'forever-key', undefined, OWNER);
    await ds.query(`UPDATE issued_tokens SET expires_at = now() - interval '1 second' WHERE expires_at IS NOT NULL`);
    expect(await store.get('identity-cache.p3-a')).toBeNull();
    await store.set('identity-cache.p3-c', 'fresh-key', 60, OWNER);
    const [{ count }] = await ds.query<{ count: string }[]>(
      'SELECT count(*)::text AS count FROM issued_tokens WHERE expires_at <= now()',
    );
    expect(count).toBe('0');
    expect(await store.get('identity-cache.p3-b')).toBe('forever-key');
  });

  it('should not keep a token longer than 4 KB', async () => {
    await store.set('identity-cache.p4-a', 'x'.repeat(5000), 60, OWNER);
    expect(await store.get('identity-cache.p4-a')).toBeNull();
  });

  it('should read nothing under another session secret (other lookup, other seal)', async () => {
    await store.set('identity-cache.p5-a', 'key-five', 60, OWNER);
    expect(await other.get(IssuedTokensStore).get('identity-cache.p5-a')).toBeNull();
  });
});

/** Issue: an erased developer's issued_tokens rows stayed behind. Erasure takes them, in its transaction. */
describe('erasing a developer removes the tokens issued to them (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let store: IssuedTokensStore;
  let developers: DevelopersService;
  let ds: DataSource;
  const seen: DeveloperChangeEvent[] = [];
  let failHook = false;

  beforeAll(async () => {
    db = await createTestDatabase('issued_tokens_erase');
    app = await createLibApp(db, DevelopersModule, { TYK_IB_SESSION_SECRET: SESSION_SECRET });
    await app.init();
    store = app.get(IssuedTokensStore);
    developers = app.get(DevelopersService);
    ds = app.get(DataSource);
    developers.onChange({
      changed: (_m, event) => {
        if (failHook) return Promise.reject(new Error('follow-up failed'));
        seen.push(event);
        return Promise.resolve();
      },
      portalSync: () => Promise.resolve(null),
    });
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const login = async (subject: string) =>
    (
      await developers.recordLogin({
        issuer: 'https://idp.example',
        subject,
        email: `${subject}@example.com`,
        emailVerified: true,
        name: subject,
        organisationId: null,
        organisationName: null,
        ssoKey: null,
      })
    ).developer;

  const rowsOf = async (developerId: string) =>
    (
      await ds.query<{ n: number }[]>('SELECT count(*)::int AS n FROM issued_tokens WHERE developer_id = $1', [
        developerId,
      ])
    )[0].n;

  it('should keep every row when the erasure fails, and remove them all with the erasure, handing them over still sealed', async () => {
    const dana = await login('dana-sub');
    const erin = await login('erin-sub');
    await store.set('identity-cache.keys-dana-sub@openid-connect.com', 'dana-key', 600, {
      profileId: 'keys',
      developerId: dana.id,
    });
    await store.set('identity-cache.oauth-dana-sub@openid-connect.com', 'dana-token', undefined, {
      profileId: 'oauth',
      developerId: dana.id,
    });
    await store.set('identity-cache.keys-erin-sub@openid-connect.com', 'erin-key', 600, {
      profileId: 'keys',
      developerId: erin.id,
    });

    // Nothing half-written: a failing follow-up rolls the erasure back, tokens included.
    failHook = true;
    await expect(developers.erase(dana.id, 'admin:dpo')).rejects.toThrow('follow-up failed');
    failHook = false;
    expect(await rowsOf(dana.id)).toBe(2);
    expect((await developers.get(dana.id)).email).toBe('dana-sub@example.com');

    const erased = await developers.erase(dana.id, 'admin:dpo');
    expect(erased.erasedAt).not.toBeNull();
    expect(await rowsOf(dana.id)).toBe(0);
    expect(await store.get('identity-cache.keys-dana-sub@openid-connect.com')).toBeNull();
    // Someone else's token stays.
    expect(await rowsOf(erin.id)).toBe(1);
    expect(await store.get('identity-cache.keys-erin-sub@openid-connect.com')).toBe('erin-key');

    // The hooks (the deprovisioning outbox) get them sealed, to revoke them.
    const event = seen.find((e) => e.change === 'erased' && e.developer.id === dana.id)!;
    expect(event.tokens.map((t) => t.profile_id).sort()).toEqual(['keys', 'oauth']);
    expect(JSON.stringify(event.tokens)).not.toContain('dana');
    expect(event.tokens.map((t) => store.unseal(t)).sort()).toEqual(['dana-key', 'dana-token']);
    const [audit] = await ds.query<{ details: Record<string, unknown> }[]>(
      `SELECT details FROM audit_events WHERE type = 'developer.erased' AND developer_id = $1`,
      [dana.id],
    );
    expect(audit.details).toMatchObject({ revocations_queued: 2 });
  });

  it('should remove the rows with the developer', async () => {
    const fay = await login('fay-sub');
    await store.set('identity-cache.keys-fay-sub@openid-connect.com', 'fay-key', 600, {
      profileId: 'keys',
      developerId: fay.id,
    });
    await asSuperuser(db, (c) => c.query('DELETE FROM developers WHERE id = $1', [fay.id]));
    expect(await rowsOf(fay.id)).toBe(0);
  });
});
