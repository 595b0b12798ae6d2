import { LruCache } from './lru-cache.js';

const MAX_TRACKED_CLIENTS = 100_000;

/**
 * Counts events per key (a client IP) in fixed windows, per instance, with a bounded memory: past
 * MAX_TRACKED_CLIENTS keys the least recently seen client is forgotten (never everyone's count at
 * once, which a flood from many addresses could otherwise force). Shared by the login rate limit
 * and the failed-admin-authentication limit.
 */
export class FixedWindowCounter {
  private readonly windows: LruCache<string, { start: number; count: number }>;

  constructor(
    private readonly windowMs: number,
    maxClients = MAX_TRACKED_CLIENTS,
  ) {
    this.windows = new LruCache(maxClients);
  }

  /** Adds one event for the key; returns the count in the current window. */
  hit(key: string, now = Date.now()): number {
    let entry = this.windows.get(key);
    if (!entry || now - entry.start >= this.windowMs) {
      entry = { start: now, count: 0 };
      this.windows.set(key, entry);
    }
    return ++entry.count;
  }

  /** The count in the key's current window, without adding one. */
  count(key: string, now = Date.now()): number {
    const entry = this.windows.get(key);
    return entry && now - entry.start < this.windowMs ? entry.count : 0;
  }

  /** Whole seconds until the key's current window ends (at least 1). */
  retryAfterSeconds(key: string, now = Date.now()): number {
    const entry = this.windows.get(key);
    return entry ? Math.max(1, Math.ceil((entry.start + this.windowMs - now) / 1000)) : 1;
  }
}
