// Runs the BUILT dev IdP (apps/dev-idp) as a child process for tests (oidc-provider is ESM-only and
// jest cannot load it), and drives its login page with plain fetch, as a browser would.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const DEV_IDP_MAIN = path.resolve(process.cwd(), 'dist/apps/dev-idp/apps/dev-idp/src/main.js');

export interface StartDevIdpOptions {
  /** Extra environment for the IdP (DEV_IDP_CLIENTS, DEV_IDP_USERS, DEV_IDP_USERS_FILE, …). */
  env?: Record<string, string>;
  /** Where the signing and cookie keys are kept; a new temp dir when absent. */
  dataDir?: string;
}

export interface RunningTestDevIdp {
  /** e.g. http://localhost:41234/dev/developers */
  issuer: string;
  /** The server's origin, e.g. http://localhost:41234 */
  url: string;
  port: number;
  dataDir: string;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

const READY = /\[dev-idp\] ready issuer=(\S+) login=(\S+)/;

async function waitForHealth(url: string, deadline: number): Promise<void> {
  for (;;) {
    try {
      if ((await fetch(`${url}/health`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`dev IdP at ${url} never answered /health`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts `dist/apps/dev-idp/apps/dev-idp/src/main.js` on a free port (DEV_IDP_PORT=0 unless given)
 * and resolves once it has printed its issuer and answers GET /health.
 */
export async function startDevIdp(opts: StartDevIdpOptions = {}): Promise<RunningTestDevIdp> {
  if (!existsSync(DEV_IDP_MAIN)) {
    throw new Error(`${DEV_IDP_MAIN} is missing: build the dev IdP first (npx nest build dev-idp)`);
  }
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'dev-idp-'));
  const child = spawn(process.execPath, [DEV_IDP_MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      DEV_IDP_PORT: '0',
      DEV_IDP_HOST: '127.0.0.1',
      DEV_IDP_PUBLIC_HOST: 'localhost',
      ...opts.env,
      DEV_IDP_DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stopChild(child);
      reject(new Error(`dev IdP did not report ready within 15 s:\n${output}`));
    }, 15000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = READY.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`dev IdP exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  const issuerUrl = new URL(issuer);
  const url = issuerUrl.origin;
  await waitForHealth(url, Date.now() + 10000).catch(async (err: Error) => {
    await stopChild(child);
    throw err;
  });
  return {
    issuer,
    url,
    port: Number(issuerUrl.port),
    dataDir,
    output: () => output,
    stop: () => stopChild(child),
  };
}

/** A minimal cookie jar: name → value per path, enough for the IdP's own cookies. */
export class CookieJar {
  private readonly cookies = new Map<string, { value: string; path: string }>();

  store(res: Response): void {
    for (const header of res.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const attr = (key: string) =>
        attrs.find((a) => a.toLowerCase().startsWith(`${key}=`))?.slice(key.length + 1) ?? undefined;
      const cookiePath = attr('path') ?? '/';
      const expires = attr('expires');
      const maxAge = attr('max-age');
      const key = `${name};${cookiePath}`;
      const expired = value === '' || (expires && Date.parse(expires) <= Date.now()) || maxAge === '0';
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { value, path: cookiePath });
    }
  }

  header(url: string): string {
    const { pathname } = new URL(url);
    return [...this.cookies.entries()]
      .filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map(([key, c]) => `${key.slice(0, key.indexOf(';'))}=${c.value}`)
      .join('; ');
  }
}

async function request(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(res);
  return res;
}

/**
 * Signs `accountSub` in at the dev IdP without a browser: GET the authorization URL, follow the
 * IdP's redirects to its login page, press the account's button, follow the redirects back, and
 * return the first Location that leaves the IdP (the client's redirect_uri with code or error).
 */
export async function loginWithDevIdp(authorizeUrl: string, accountSub: string): Promise<string> {
  const jar = new CookieJar();
  const idpOrigin = new URL(authorizeUrl).origin;
  let res = await request(jar, authorizeUrl);
  let current = authorizeUrl;
  for (let step = 0; step < 10; step++) {
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      if (!location) throw new Error(`redirect without Location from ${current}`);
      const next = new URL(location, current).href;
      await res.arrayBuffer();
      if (new URL(next).origin !== idpOrigin) return next;
      current = next;
      res = await request(jar, current);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`dev IdP answered ${res.status} at ${current}: ${html.slice(0, 500)}`);
    const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
    if (!action || !html.includes('name="account"')) throw new Error(`no login form at ${current}`);
    const escaped = accountSub.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    if (!html.includes(`name="account" value="${escaped}"`)) {
      throw new Error(`account ${accountSub} is not offered on the dev IdP login page`);
    }
    current = new URL(action.replace(/&amp;/g, '&'), current).href;
    res = await request(jar, current, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ account: accountSub }).toString(),
    });
  }
  throw new Error('dev IdP login did not finish within 10 steps');
}
