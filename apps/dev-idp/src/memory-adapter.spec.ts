import { MemoryStore } from './memory-adapter.js';

describe('dev IdP memory store', () => {
  it('should store, find, consume and destroy payloads per model', async () => {
    const store = new MemoryStore();
    const codes = store.adapterFor('AuthorizationCode');
    const tokens = store.adapterFor('AccessToken');
    await codes.upsert('c1', { grantId: 'g1', kind: 'AuthorizationCode' }, 60);
    expect(await codes.find('c1')).toMatchObject({ kind: 'AuthorizationCode' });
    expect(await tokens.find('c1')).toBeUndefined();
    await codes.consume('c1');
    expect(typeof (await codes.find('c1'))?.consumed).toBe('number');
    await codes.destroy('c1');
    expect(await codes.find('c1')).toBeUndefined();
  });

  it('should expire entries and find sessions by uid', async () => {
    const store = new MemoryStore();
    const sessions = store.adapterFor('Session');
    await sessions.upsert('s1', { uid: 'u1' }, 60);
    expect(await sessions.findByUid('u1')).toMatchObject({ uid: 'u1' });
    await sessions.upsert('s2', { uid: 'u2' }, 0);
    expect(await sessions.find('s2')).toBeUndefined();
  });

  it('should revoke every token of a grant', async () => {
    const store = new MemoryStore();
    const codes = store.adapterFor('AuthorizationCode');
    const tokens = store.adapterFor('AccessToken');
    await codes.upsert('c1', { grantId: 'g1' }, 60);
    await tokens.upsert('t1', { grantId: 'g1' }, 60);
    await tokens.upsert('t2', { grantId: 'g2' }, 60);
    await tokens.revokeByGrantId('g1');
    expect(await codes.find('c1')).toBeUndefined();
    expect(await tokens.find('t1')).toBeUndefined();
    expect(await tokens.find('t2')).toBeDefined();
  });
});
