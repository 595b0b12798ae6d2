import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '@app/database';
import { REPO_ROOT } from '@test/support/built.js';
import { loginWithDevIdp } from '@test/support/dev-idp.js';

/** `npm start` as a new user runs it: the whole stack in one process tree, then Ctrl-C. */
describe('npm start (scripts/start.mjs): the whole flow on one machine', () => {
  const data = mkdtempSync(path.join(tmpdir(), 'start-'));
  let ports: { broker: number; idp: number; portal: number };

  function start(): {
    child: ChildProcess;
    output: () => string;
    banner: Promise<void>;
    exited: Promise<number | null>;
  } {
    const child = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        BROKER_DATA_DIR: data,
        TYK_IB_PORT: String(ports.broker),
        DEV_IDP_PORT: String(ports.idp),
        PORTAL_EMULATOR_PORT: String(ports.portal),
        TYK_LOGLEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const banner = new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (out.includes('Portal SSO Broker is running')) {
          clearInterval(timer);
          resolve();
        }
      }, 100);
      void exited.then((code) => {
        clearInterval(timer);
        reject(new Error(`npm start exited with ${code}:\n${out}`));
      });
    });
    // A run expected to fail never awaits its banner: keep that rejection handled.
    banner.catch(() => undefined);
    return { child, output: () => out, banner, exited };
  }

  beforeAll(async () => {
    ports = { broker: await freePort(), idp: await freePort(), portal: await freePort() };
  });

  it('should print the banner, sign a developer in, stop cleanly on Ctrl-C and reuse its data', async () => {
    const first = start();
    await first.banner;
    const text = first.output();
    const login = `http://localhost:${ports.broker}/auth/demo/openid-connect`;
    expect(text).toContain(login);
    expect(text).toContain(`http://localhost:${ports.portal}/`);
    expect(text).toContain('/docs');
    // The security console, wired to the dev IdP's console client and demo staff, answers.
    expect(text).toContain(`http://localhost:${ports.broker}/console`);
    const consoleStart = await fetch(`http://127.0.0.1:${ports.broker}/console/sign-in`, { redirect: 'manual' });
    expect(consoleStart.status).toBe(302);
    expect(consoleStart.headers.get('location')).toContain('client_id=broker-console');
    const secret = readFileSync(path.join(data, 'admin-secret'), 'utf8').trim();
    expect(text).toContain(secret);
    // The session secret (stored tokens, cursors) is generated once and kept, never left random.
    const sessionSecret = readFileSync(path.join(data, 'session-secret'), 'utf8').trim();
    expect(sessionSecret.length).toBeGreaterThanOrEqual(16);
    expect(text).not.toContain('TYK_IB_SESSION_SECRET is not set');
    // The banner is the last thing start-up prints.
    expect(text.trimEnd().endsWith('─'.repeat(72))).toBe(true);

    const startRes = await fetch(login, { redirect: 'manual' });
    expect(startRes.status).toBe(307);
    const cookie = startRes.headers.getSetCookie()[0].split(';')[0];
    const callback = await loginWithDevIdp(startRes.headers.get('location')!, 'alice');
    const done = await fetch(callback, { redirect: 'manual', headers: { cookie } });
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toMatch(new RegExp(`^http://localhost:${ports.portal}/sso\\?nonce=`));

    // The setup doctor the banner points at passes against the local stack.
    expect(text).toContain(`${ports.broker}/api/profiles/demo/check`);
    const doctor = await fetch(`http://127.0.0.1:${ports.broker}/api/profiles/demo/check`, {
      headers: { Authorization: secret },
    });
    const report = ((await doctor.json()) as { Data: { ok: boolean; items: { check: string; status: string }[] } })
      .Data;
    expect(report.items.filter((i) => i.status === 'fail')).toEqual([]);
    expect(report.ok).toBe(true);

    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    // Short human lines in the local stack: no JSON, no route-by-route start-up chatter, and the
    // stack's own set-up calls hidden.
    const all = first.output();
    expect(all).not.toMatch(/^\[broker\] \{/m);
    expect(all).not.toMatch(/Mapped \{/);
    expect(all).not.toMatch(/(GET|POST) \/api\/profiles\/demo →/);

    // A second start reuses the data: same admin secret, the demo profile is still there.
    const second = start();
    await second.banner;
    expect(second.output()).toContain(secret);
    expect(readFileSync(path.join(data, 'session-secret'), 'utf8').trim()).toBe(sessionSecret);
    const profiles = await fetch(`http://127.0.0.1:${ports.broker}/api/profiles`, {
      headers: { Authorization: secret },
    });
    expect(((await profiles.json()) as { Data: { ID: string }[] }).Data.map((p) => p.ID)).toEqual(['demo']);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 180_000);

  it('should refuse a port already taken with a clear message, not a stack trace', async () => {
    const net = await import('node:net');
    const blocker = net.createServer().listen(ports.broker, '0.0.0.0');
    try {
      const run = start();
      const code = await run.exited;
      expect(code).toBe(1);
      expect(run.output()).toMatch(new RegExp(`Port ${ports.broker} is already in use.*TYK_IB_PORT`));
      expect(run.output()).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });
});
