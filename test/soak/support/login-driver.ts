import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Drives broker logins with plain fetch, as a browser would, against an IdP whose authorize
 * endpoint answers at once (test/support/fake-idp.ts with `users`): start →
 * IdP → callback with the `sso_broker_login` cookie the start set. Shared by the load, crash and
 * soak suites.
 */

export const BINDING_COOKIE = 'sso_broker_login';

export interface Hop {
  status: number;
  location: string;
  setCookies: string[];
}

export async function hop(url: string, init: RequestInit = {}): Promise<Hop> {
  const res = await fetch(url, { ...init, redirect: 'manual' });
  await res.arrayBuffer();
  return { status: res.status, location: res.headers.get('location') ?? '', setCookies: res.headers.getSetCookie() };
}

export interface StartedLogin {
  status: number;
  /** The IdP's authorize URL (or the FailureRedirect when the start failed). */
  location: string;
  /** `sso_broker_login=<value>` for the Cookie header, '' when none was set. */
  cookie: string;
  setCookie: string;
}

export async function startLogin(
  brokerUrl: string,
  profileId: string,
  headers: Record<string, string> = {},
): Promise<StartedLogin> {
  const res = await hop(`${brokerUrl}/auth/${profileId}/openid-connect`, { headers });
  const setCookie = res.setCookies.find((c) => c.startsWith(`${BINDING_COOKIE}=`)) ?? '';
  return { status: res.status, location: res.location, cookie: setCookie.split(';')[0] ?? '', setCookie };
}

/** Follows the authorize URL at an IdP without a login page; returns the callback URL it redirects to. */
export async function authorizeAt(authorizeUrl: string, loginHint?: string): Promise<string> {
  const url = new URL(authorizeUrl);
  if (loginHint !== undefined) url.searchParams.set('login_hint', loginHint);
  const res = await hop(url.toString());
  if (res.status !== 302 || !res.location) throw new Error(`the IdP answered ${res.status} to authorize`);
  return res.location;
}

export type LoginEnd =
  | { kind: 'success'; location: string }
  | { kind: 'failure'; code: string; location: string }
  | { kind: 'other'; status: number; location: string };

export interface LoginResult {
  end: LoginEnd;
  /** Status of the broker's last answer (start when it failed there, else callback). */
  status: number;
  callbackUrl: string | null;
  cookie: string;
}

/** Classifies a broker answer against the profile's ReturnURL and FailureRedirect. */
export function classify(status: number, location: string, returnUrl: string, failureRedirect: string): LoginEnd {
  if (status === 302 && location.startsWith(`${returnUrl}?nonce=`)) return { kind: 'success', location };
  if (status === 302 && location.startsWith(failureRedirect)) {
    return { kind: 'failure', code: new URL(location).searchParams.get('error') ?? '', location };
  }
  return { kind: 'other', status, location };
}

export interface LoginTarget {
  brokerUrl: string;
  profileId: string;
  returnUrl: string;
  failureRedirect: string;
}

/** One whole login of `sub`; never throws for a broker answer (network errors do throw). */
export async function loginAs(
  target: LoginTarget,
  sub: string,
  headers: Record<string, string> = {},
): Promise<LoginResult> {
  const started = await startLogin(target.brokerUrl, target.profileId, headers);
  // A start that worked is TIB's 307 to the IdP; a failed one is a 302 to FailureRedirect.
  if (started.status !== 307 || started.location.startsWith(target.failureRedirect)) {
    return {
      end: classify(started.status, started.location, target.returnUrl, target.failureRedirect),
      status: started.status,
      callbackUrl: null,
      cookie: started.cookie,
    };
  }
  const callbackUrl = await authorizeAt(started.location, sub);
  const done = await hop(callbackUrl, { headers: { ...headers, cookie: started.cookie } });
  return {
    end: classify(done.status, done.location, target.returnUrl, target.failureRedirect),
    status: done.status,
    callbackUrl,
    cookie: started.cookie,
  };
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at a time. */
export async function runPool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * A full garbage collection without --expose-gc: the flag can be set at run time, and a fresh
 * context then exposes `gc`. Returns null when that fails (then callers compare without GC).
 */
export function gcFunction(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

/** heapUsed in MB after a full GC (twice, so finalizers' garbage goes too). */
export function settledHeapMb(gc: (() => void) | null): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

export interface LoadSummary {
  logins: number;
  successes: number;
  failures: Record<string, number>;
  others: { status: number; location: string }[];
  fiveXx: number;
  seconds: number;
  perSecond: number;
}

/**
 * Counts login outcomes as they come, keeping only the unexpected ones: a run of 50,000 must not
 * hold 50,000 results, or the heap it measures would grow with its own bookkeeping.
 */
export class LoadTally {
  private logins = 0;
  private successes = 0;
  private fiveXx = 0;
  private readonly failures: Record<string, number> = {};
  private readonly others: { status: number; location: string }[] = [];

  add(r: LoginResult): void {
    this.logins++;
    if (r.status >= 500) this.fiveXx++;
    if (r.end.kind === 'success') this.successes++;
    else if (r.end.kind === 'failure') this.failures[r.end.code] = (this.failures[r.end.code] ?? 0) + 1;
    else if (this.others.length < 100) this.others.push({ status: r.end.status, location: r.end.location });
  }

  summary(seconds: number): LoadSummary {
    return {
      logins: this.logins,
      successes: this.successes,
      failures: { ...this.failures },
      others: [...this.others],
      fiveXx: this.fiveXx,
      seconds,
      perSecond: Math.round(this.logins / seconds),
    };
  }
}
