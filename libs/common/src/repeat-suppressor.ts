import { LruCache } from './lru-cache.js';

/**
 * Lets one event per key through per interval and counts the ones it holds back, with a bounded
 * memory (past `maxKeys` the least recently seen key is forgotten, never every key at once). The
 * failed-authentication audits of the admin API and SCIM use it so that a flood of bad credentials
 * writes one `admin.auth_failed` per client per 10 s, each saying how many it stands for.
 */
export class RepeatSuppressor {
  private readonly last: LruCache<string, { at: number; suppressed: number }>;

  constructor(
    private readonly intervalMs: number,
    maxKeys = 10_000,
  ) {
    this.last = new LruCache(maxKeys);
  }

  /**
   * Null when an event for the key passed less than the interval ago (this one is counted as
   * suppressed); else the number suppressed since the last one let through, and this one passes.
   */
  admit(key: string, now = Date.now()): { suppressedSinceLast: number } | null {
    const last = this.last.get(key);
    if (last && now - last.at < this.intervalMs) {
      last.suppressed++;
      return null;
    }
    this.last.set(key, { at: now, suppressed: 0 });
    return { suppressedSinceLast: last?.suppressed ?? 0 };
  }
}
