const MAX_TRACKED_CLIENTS = 100_000;

/**
 * Counts events per key (a client IP) in fixed windows, per instance, with a bounded memory:
 * when too many keys are tracked, finished windows are dropped, and if none is finished, all.
 * Shared by the login rate limit and the failed-admin-authentication limit.
 */
export class FixedWindowCounter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly windowMs: number) {}

  /** Adds one event for the key; returns the count in the current window. */
  hit(key: string, now = Date.now()): number {
    let entry = this.windows.get(key);
    if (!entry || now - entry.start >= this.windowMs) {
      if (!entry && this.windows.size >= MAX_TRACKED_CLIENTS) this.sweep(now);
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

  private sweep(now: number): void {
    for (const [key, entry] of this.windows) if (now - entry.start >= this.windowMs) this.windows.delete(key);
    if (this.windows.size >= MAX_TRACKED_CLIENTS) this.windows.clear();
  }
}
