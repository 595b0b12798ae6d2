/**
 * `work`, or a rejection (`no answer within <ms> ms`) once `ms` have passed. The timer is cleared
 * as soon as either settles, so a call that answers in time leaves no timer behind, and it never
 * holds the process open. `work` itself is not cancelled.
 */
export function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
