/** Background timers that never keep the process alive and all stop at once (shutdown). */
export class BackgroundTimers {
  private readonly timers: NodeJS.Timeout[] = [];

  every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms).unref());
  }

  after(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms).unref());
  }

  /** clearTimeout clears intervals as well (one timer type in Node). */
  stop(): void {
    for (const t of this.timers.splice(0)) clearTimeout(t);
  }
}
