import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number;
}

/**
 * The in-memory store of the dev IdP (sessions, interactions, codes, tokens, grants): lost on
 * restart, which is what a development IdP wants. Expired entries are dropped when read and
 * swept on writes.
 */
export class MemoryStore {
  private readonly entries = new Map<string, Entry>();
  private readonly uidIndex = new Map<string, string>();
  private readonly userCodeIndex = new Map<string, string>();
  private readonly grantIndex = new Map<string, Set<string>>();
  private writes = 0;

  adapterFor(model: string): Adapter {
    const key = (id: string) => `${model}:${id}`;
    const get = (id: string): AdapterPayload | undefined => {
      const entry = this.entries.get(key(id));
      if (!entry) return undefined;
      if (entry.expiresAt <= Date.now()) {
        this.entries.delete(key(id));
        return undefined;
      }
      return entry.payload;
    };
    return {
      upsert: (id, payload, expiresIn) => {
        this.sweep();
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY;
        this.entries.set(key(id), { payload, expiresAt });
        if (model === 'Session' && payload.uid) this.uidIndex.set(payload.uid, id);
        if (payload.userCode) this.userCodeIndex.set(payload.userCode, id);
        if (payload.grantId) {
          const members = this.grantIndex.get(payload.grantId) ?? new Set<string>();
          members.add(key(id));
          this.grantIndex.set(payload.grantId, members);
        }
        return Promise.resolve();
      },
      find: (id) => Promise.resolve(get(id)),
      findByUid: (uid) => {
        const id = this.uidIndex.get(uid);
        return Promise.resolve(id === undefined ? undefined : get(id));
      },
      findByUserCode: (userCode) => {
        const id = this.userCodeIndex.get(userCode);
        return Promise.resolve(id === undefined ? undefined : get(id));
      },
      consume: (id) => {
        const payload = get(id);
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
        return Promise.resolve();
      },
      destroy: (id) => {
        this.entries.delete(key(id));
        return Promise.resolve();
      },
      revokeByGrantId: (grantId) => {
        for (const member of this.grantIndex.get(grantId) ?? []) this.entries.delete(member);
        this.grantIndex.delete(grantId);
        return Promise.resolve();
      },
    };
  }

  /** Drops expired entries every 100 writes so a long-running dev IdP does not grow forever. */
  private sweep(): void {
    if (++this.writes % 100 !== 0) return;
    const now = Date.now();
    for (const [k, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(k);
    }
    for (const [uid, id] of this.uidIndex) {
      if (!this.entries.has(`Session:${id}`)) this.uidIndex.delete(uid);
    }
    for (const [code, id] of this.userCodeIndex) {
      if (!this.entries.has(`DeviceCode:${id}`)) this.userCodeIndex.delete(code);
    }
    for (const [grantId, members] of this.grantIndex) {
      for (const m of members) {
        if (!this.entries.has(m)) members.delete(m);
      }
      if (members.size === 0) this.grantIndex.delete(grantId);
    }
  }
}
