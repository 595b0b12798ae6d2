import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '@app/database';
import { chromium, type Browser } from 'playwright-core';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import {
  ADMIN_AUDIENCE,
  ADMIN_SECRET,
  CONSOLE_CLIENT_ID,
  CONSOLE_CLIENT_SECRET,
  startStack,
  type Stack,
} from '@test/support/stack.js';

const CHROMIUM = '/usr/bin/chromium';

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI. */
function selfSignedCert(): { certFile: string; keyFile: string; cert: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'console-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    '/usr/bin/openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1']
      .concat(['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'])
      .concat(['-keyout', keyFile, '-out', certFile]),
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}

interface Answer {
  status: number;
  location: string;
  setCookie: string[];
  body: string;
}

/** One request to the HTTPS broker (trusting only the test's certificate), redirects not followed. */
function httpsRequest(url: string, ca: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = https.request(url, { ca, method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          location: String(res.headers.location ?? ''),
          setCookie: res.headers['set-cookie'] ?? [],
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function httpRequest(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const res = await fetch(url, { ...init, redirect: 'manual' });
  return {
    status: res.status,
    location: res.headers.get('location') ?? '',
    setCookie: res.headers.getSetCookie(),
    body: await res.text(),
  };
}

/** The attributes of one Set-Cookie line, lower-cased names (the first pair is name=value). */
function attributes(line: string): { name: string; value: string; attrs: Map<string, string> } {
  const [pair = '', ...rest] = line.split(';').map((p) => p.trim());
  const eq = pair.indexOf('=');
  const attrs = new Map<string, string>();
  for (const a of rest) {
    const i = a.indexOf('=');
    attrs.set((i < 0 ? a : a.slice(0, i)).toLowerCase(), i < 0 ? '' : a.slice(i + 1));
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attrs };
}

/**
 * The console's session cookie: `__Host-broker_console` (Secure, HttpOnly, SameSite=Lax, Path=/,
 * no Domain) when the broker serves HTTPS itself (HttpServerOptions.UseSSL), `broker_console`
 * without Secure on plain HTTP (local runs), and cookies that are garbage, too long, unknown or
 * under the other name are a signed-out visitor, never an error.
 */
describe('console session cookie (HTTPS and plain HTTP, malformed values)', () => {
  let stack: Stack;
  let secure: TestBroker;
  let secureUrl: string;
  let tls: { certFile: string; keyFile: string; cert: string };
  let browser: Browser;

  beforeAll(async () => {
    expect(existsSync('/usr/bin/openssl')).toBe(true);
    tls = selfSignedCert();
    const port = await freePort();
    secureUrl = `https://127.0.0.1:${port}`;
    stack = await startStack({ console: true, consoleRedirects: [`${secureUrl}/console/callback`] });
    // A second broker on the same database and IdP, serving HTTPS itself.
    secure = await startTestBroker(
      testConfig({
        DATABASE_URL: stack.db.url,
        TYK_IB_SECRET: ADMIN_SECRET,
        TYK_IB_HTTPSERVEROPTIONS_USESSL: 'true',
        TYK_IB_HTTPSERVEROPTIONS_CERTFILE: tls.certFile,
        TYK_IB_HTTPSERVEROPTIONS_KEYFILE: tls.keyFile,
        BROKER_ADMIN_OIDC_ISSUER: stack.idp.issuer,
        BROKER_ADMIN_OIDC_AUDIENCE: ADMIN_AUDIENCE,
        BROKER_PUBLIC_URL: secureUrl,
        BROKER_CONSOLE_CLIENT_ID: CONSOLE_CLIENT_ID,
        BROKER_CONSOLE_CLIENT_SECRET: CONSOLE_CLIENT_SECRET,
      }),
      port,
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'].concat([
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ]),
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await secure?.close();
    await stack?.stop();
  });

  /** Signs sam-auditor in through the dev IdP; returns the raw Set-Cookie lines of the callback. */
  async function signIn(base: string): Promise<{ setCookie: string[]; sessionValue: string; cookieName: string }> {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    const callback = page.waitForResponse((r) => r.url().startsWith(`${base}/console/callback`));
    await page.goto(`${base}/console`);
    await page.click('button[name="account"][value="sam-auditor"]');
    const setCookie = (await (await callback).headersArray())
      .filter((h) => h.name.toLowerCase() === 'set-cookie')
      .map((h) => h.value);
    await page.waitForURL(`${base}/console`);
    expect(await page.textContent('h1')).toBe('Overview');
    const stored = (await ctx.cookies(base)).find((c) => c.name.endsWith('broker_console'));
    await ctx.close();
    return { setCookie, sessionValue: stored?.value ?? '', cookieName: stored?.name ?? '' };
  }

  it('should set __Host-broker_console with Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain over HTTPS', async () => {
    const { setCookie, sessionValue, cookieName } = await signIn(secureUrl);
    const session = setCookie.map(attributes).find((c) => c.name === '__Host-broker_console');
    expect(session).toBeDefined();
    expect(session!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session!.attrs.has('secure')).toBe(true);
    expect(session!.attrs.has('httponly')).toBe(true);
    expect(session!.attrs.get('samesite')).toBe('Lax');
    expect(session!.attrs.get('path')).toBe('/');
    expect(session!.attrs.has('domain')).toBe(false);
    expect(Number(session!.attrs.get('max-age'))).toBe(8 * 3600);
    // The pending sign-in cookie is cleared under its __Host- name too.
    const pending = setCookie.map(attributes).find((c) => c.name === '__Host-broker_console_signin');
    expect(pending?.attrs.has('secure')).toBe(true);
    expect(pending?.attrs.get('path')).toBe('/');
    // Chromium keeps it (a __Host- cookie that broke the prefix rules would be dropped).
    expect(cookieName).toBe('__Host-broker_console');

    const page = await httpsRequest(`${secureUrl}/console`, tls.cert, {
      headers: { Cookie: `__Host-broker_console=${sessionValue}` },
    });
    expect(page.status).toBe(200);
    // Over HTTPS the unprefixed name (which a sibling host or plain-HTTP page could plant) is not read.
    const unprefixed = await httpsRequest(`${secureUrl}/console`, tls.cert, {
      headers: { Cookie: `broker_console=${sessionValue}` },
    });
    expect(unprefixed.status).toBe(302);
    expect(unprefixed.location).toBe('/console/sign-in?return_to=%2Fconsole');
  }, 60_000);

  it('should set broker_console, HttpOnly and SameSite=Lax but not Secure, on a plain-HTTP local run', async () => {
    const { setCookie, cookieName } = await signIn(stack.broker.url);
    const session = setCookie.map(attributes).find((c) => c.name === 'broker_console');
    expect(session).toBeDefined();
    expect(session!.attrs.has('secure')).toBe(false);
    expect(session!.attrs.has('httponly')).toBe(true);
    expect(session!.attrs.get('samesite')).toBe('Lax');
    expect(session!.attrs.get('path')).toBe('/');
    expect(session!.attrs.has('domain')).toBe(false);
    expect(setCookie.some((l) => l.startsWith('__Host-'))).toBe(false);
    expect(cookieName).toBe('broker_console');
  }, 60_000);

  it('should treat garbage, too long, unknown or misplaced session cookies as signed out, never a 500', async () => {
    const errorsBefore = stack.broker.logs.lines.filter((l) => l.includes('"level":50')).length;
    const unknownId = 'A'.repeat(43);
    const cookies = [
      'broker_console=garbage',
      'broker_console=',
      'broker_console',
      '=broker_console',
      ';;;=;;',
      `broker_console=${unknownId}`,
      `broker_console=${unknownId}x`,
      `broker_console=${'A'.repeat(42)}!`,
      `broker_console="${unknownId}"`,
      `broker_console=${'%41'.repeat(43)}`,
      `broker_console=${'x'.repeat(6000)}`,
      `broker_console=${unknownId}; broker_console=${'B'.repeat(43)}`,
      `broker_console=../../${'A'.repeat(37)}`,
      `broker_console=${unknownId}%00`,
      `__Host-broker_console=${unknownId}`,
      `broker_console_signin=${unknownId}`,
    ];
    for (const cookie of cookies) {
      const page = await httpRequest(`${stack.broker.url}/console/events?type=login.*`, {
        headers: { Cookie: cookie },
      });
      expect([cookie.slice(0, 60), page.status, page.location]).toEqual([
        cookie.slice(0, 60),
        302,
        '/console/sign-in?return_to=%2Fconsole%2Fevents%3Ftype%3Dlogin.*',
      ]);
      for (const write of ['/console/verify', '/console/sign-out']) {
        const res = await httpRequest(`${stack.broker.url}${write}`, {
          method: 'POST',
          headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: '_csrf=x',
        });
        expect([cookie.slice(0, 60), write, res.status]).toEqual([cookie.slice(0, 60), write, 401]);
        expect(res.body).toContain('sign in again');
      }
      // A callback with a garbage pending cookie is an expired sign-in (401), not a crash.
      const callback = await httpRequest(`${stack.broker.url}/console/callback?code=x&state=y`, {
        headers: { Cookie: cookie.replace('broker_console=', 'broker_console_signin=') },
      });
      expect([cookie.slice(0, 60), callback.status]).toEqual([cookie.slice(0, 60), 401]);
    }
    // Over HTTPS too, with either name.
    for (const cookie of [`__Host-broker_console=${unknownId}`, '__Host-broker_console=%%%', 'broker_console=zz']) {
      const page = await httpsRequest(`${secureUrl}/console`, tls.cert, { headers: { Cookie: cookie } });
      expect([cookie, page.status]).toEqual([cookie, 302]);
    }
    // A cookie header beyond Node's header limit is refused by the HTTP server itself (431).
    const huge = await httpRequest(`${stack.broker.url}/console`, {
      headers: { Cookie: `broker_console=${'x'.repeat(20_000)}` },
    });
    expect(huge.status).toBe(431);
    expect(stack.broker.logs.lines.filter((l) => l.includes('"level":50')).length).toBe(errorsBefore);
  }, 60_000);
});
