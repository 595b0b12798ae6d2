import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '@test/support/built.js';

// `docker compose config` runs in CI only where the docker CLI has compose; these checks run everywhere.
const read = (f: string) => readFileSync(path.join(REPO_ROOT, f), 'utf8');

interface Service {
  profiles?: string[];
  build?: { target?: string; dockerfile?: string };
  environment?: Record<string, string>;
  image?: string;
  entrypoint?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: unknown; disable?: boolean };
  volumes?: string[];
  ports?: string[];
}

/** Runs docker/portal-bootstrap.mjs as compose does, against `portal`; resolves with its exit and output. */
function runBootstrap(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'docker/portal-bootstrap.mjs')], {
    env: { PATH: process.env.PATH ?? '', PORTAL_READY_INTERVAL_MS: '20', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

describe('docker/compose.yaml, docker/Dockerfile and docker/.env.example', () => {
  const compose = parse(read('docker/compose.yaml'), { merge: true }) as { services: Record<string, Service> };
  const dockerfile = read('docker/Dockerfile');
  const envExample = read('docker/.env.example');

  it('should build every image from a target the Dockerfile defines', () => {
    const targets = [...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]);
    const built = Object.values(compose.services).filter((s) => s.build);
    expect(built.length).toBeGreaterThanOrEqual(3);
    for (const s of built) expect(targets).toContain(s.build?.target);
  });

  it('should run the images as a non-root user with production dependencies only', () => {
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/^USER app$/m);
    expect(dockerfile.trim().split('\n').pop()).toMatch(/main\.js"\]$/);
  });

  it('should start the broker image with the V8 flags every other launcher uses (scripts/node-flags.mjs, issue 19)', async () => {
    const { BROKER_NODE_FLAGS } = (await import(path.join(REPO_ROOT, 'scripts/node-flags.mjs'))) as {
      BROKER_NODE_FLAGS: string[];
    };
    expect(BROKER_NODE_FLAGS).toContain('--no-memory-reducer');
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile.slice(dockerfile.indexOf('AS broker')))?.[1];
    expect(JSON.parse(entrypoint ?? '[]')).toEqual([
      'node',
      ...BROKER_NODE_FLAGS,
      'dist/apps/broker/apps/broker/src/main.js',
    ]);
    for (const launcher of ['scripts/start.mjs', 'scripts/broker.mjs', 'bench/run.mjs', 'bench/workers.mjs']) {
      expect(read(launcher)).toContain('BROKER_NODE_FLAGS');
    }
  });

  it('should offer the real Tyk stack (profile tyk) and the stand-ins (profile demo), each with a broker', () => {
    const inProfile = (p: string) =>
      Object.entries(compose.services)
        .filter(([, s]) => s.profiles?.includes(p))
        .map(([n]) => n);
    expect(inProfile('tyk')).toEqual(
      expect.arrayContaining(['broker', 'tyk-gateway', 'tyk-redis', 'tyk-portal', 'tyk-portal-db']),
    );
    expect(inProfile('demo')).toEqual(expect.arrayContaining(['broker-demo', 'portal-emulator', 'dev-idp']));
    for (const name of ['broker', 'broker-demo']) {
      const env = compose.services[name].environment!;
      expect(Object.keys(env)).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'TYK_IB_SECRET', 'TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT']),
      );
    }
    expect(compose.services['tyk-portal'].environment!.PORTAL_API_SECRET).toBe(
      '${PORTAL_API_SECRET:?set PORTAL_API_SECRET in docker/.env}',
    );
  });

  it('should connect the broker as the runtime role and migrate as the owner, never as the superuser (issue 14)', () => {
    const init = read('docker/postgres-init/10-broker-roles.sh');
    expect(init).toMatch(/CREATE ROLE broker_owner LOGIN/);
    expect(init).toMatch(/CREATE ROLE broker_app LOGIN/);
    expect(init).toMatch(/CREATE DATABASE broker OWNER broker_owner/);
    for (const name of ['broker', 'broker-demo']) {
      const env = compose.services[name].environment!;
      expect(env.DATABASE_URL).toMatch(/^postgres:\/\/broker_app:/);
      expect(env.DATABASE_MIGRATION_URL).toMatch(/^postgres:\/\/broker_owner:/);
      expect(env.BROKER_AUDIT_SIGNING_KEY_FILE).toBe('/run/secrets/audit_signing_key');
    }
  });

  it('should keep the audit checkpoint copies on a volume, so that they outlive the container', () => {
    expect(read('docker/Dockerfile')).toMatch(/chown app:app \/app\/\.data/);
    for (const name of ['broker', 'broker-demo']) {
      const service = compose.services[name];
      const dir = service.environment!.BROKER_AUDIT_CHECKPOINT_DIR;
      expect(dir).toBe('/app/.data/checkpoints');
      // The volume at /app/.data starts from the image's folder, owned by the app user.
      expect(service.volumes).toContain('broker-data:/app/.data');
    }
  });

  it('should document in .env.example every variable the compose file reads', () => {
    const used = new Set([...read('docker/compose.yaml').matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]));
    const documented = new Set([...envExample.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(5);
    for (const v of used) expect(documented).toContain(v);
  });

  describe('profile tyk: the real portal', () => {
    const services = compose.services;

    it('should fail fast with a clear message when PORTAL_LICENSEKEY is missing, and keep the portal in its database', () => {
      const env = services['tyk-portal'].environment!;
      expect(env.PORTAL_LICENSEKEY).toMatch(
        /^\$\{PORTAL_LICENSEKEY:\?set PORTAL_LICENSEKEY in docker\/\.env .*licence.*\}$/,
      );
      expect(env.PORTAL_STORAGE).toBe('db');
    });

    it('should pin a portal image at or above 1.14.1 (1.14.0 moved returning SSO users between teams)', () => {
      const tag = /^tykio\/portal:v(\d+)\.(\d+)\.(\d+)$/.exec(services['tyk-portal'].image ?? '');
      expect(tag).not.toBeNull();
      const [major, minor, patch] = tag!.slice(1).map(Number);
      expect(major * 1e6 + minor * 1e3 + patch).toBeGreaterThanOrEqual(1_014_001);
    });

    it('should bootstrap the portal once and hand the token to the broker through a file', () => {
      const bootstrap = services['portal-bootstrap'];
      expect(bootstrap.profiles).toEqual(['tyk']);
      expect(bootstrap.entrypoint).toEqual(['node', 'docker/portal-bootstrap.mjs']);
      expect(dockerfile).toMatch(/^COPY .*docker\/portal-bootstrap\.mjs \.\/docker\/portal-bootstrap\.mjs$/m);
      expect(bootstrap.depends_on).toMatchObject({ 'tyk-portal': { condition: 'service_started' } });
      expect(bootstrap.environment!.PORTAL_URL).toBe('http://tyk-portal:3001');
      const broker = services.broker;
      expect(broker.depends_on).toMatchObject({
        postgres: { condition: 'service_healthy' },
        'portal-bootstrap': { condition: 'service_completed_successfully' },
      });
      const tokenFile = bootstrap.environment!.PORTAL_ADMIN_TOKEN_FILE;
      expect(broker.environment!.TYK_PORTAL_ADMIN_TOKEN_FILE).toBe(tokenFile);
      expect(broker.environment!.TYK_PORTAL_ADMIN_TOKEN).toBe('');
      const volumeOf = (s: Service) => s.volumes?.find((v) => v.startsWith('portal-token:'));
      expect(volumeOf(bootstrap)).toBe(`portal-token:${path.dirname(tokenFile)}`);
      expect(volumeOf(broker)).toBe(`portal-token:${path.dirname(tokenFile)}:ro`);
    });

    it('should start every service only once what it needs is healthy or done (no bare start order)', () => {
      const built = (s: Service) => s.build?.target === 'broker';
      for (const [name, service] of Object.entries(services)) {
        if (!service.profiles?.includes('tyk') && name !== 'postgres') continue;
        expect({ name, list: Array.isArray(service.depends_on) }).toEqual({ name, list: false });
        for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
          expect(['service_healthy', 'service_completed_successfully', 'service_started']).toContain(condition);
          if (condition === 'service_healthy') {
            const target = services[dep];
            // The broker image carries its own HEALTHCHECK (Dockerfile).
            expect({ dep, checked: Boolean(target.healthcheck?.test) || built(target) }).toEqual({
              dep,
              checked: true,
            });
          }
        }
      }
      for (const name of ['postgres', 'tyk-portal-db', 'tyk-redis']) {
        expect(services[name].healthcheck?.test).toBeDefined();
      }
    });
  });

  it('should publish the demo dev IdP on loopback only (password-less sign-in, mints broker:admin tokens)', () => {
    expect(compose.services['dev-idp'].ports).toEqual(['127.0.0.1:3020:3020']);
  });

  describe('docker/portal-bootstrap.mjs against a stand-in portal', () => {
    let server: Server;
    let url: string;
    let readyAfter = 0;
    let bootstrapStatus = 200;
    const bootstraps: unknown[] = [];

    beforeAll(async () => {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          if (req.url === '/ready') {
            res.writeHead(readyAfter-- > 0 ? 503 : 200).end();
          } else if (req.url === '/portal-api/bootstrap' && req.method === 'POST') {
            bootstraps.push(JSON.parse(body));
            res.writeHead(bootstrapStatus, { 'Content-Type': 'application/json' });
            res.end(
              bootstrapStatus === 200
                ? JSON.stringify({
                    code: 'OK',
                    message: 'Bootstrapped user successfully',
                    data: { api_token: 'jwt-token-1' },
                  })
                : JSON.stringify({ code: 'ERR', message: 'already bootstrapped' }),
            );
          } else {
            res.writeHead(404).end();
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it('should wait for /ready, bootstrap the super admin and write the token (0600) once', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'portal-token-'));
      const tokenFile = path.join(dir, 'admin-token');
      const env = {
        PORTAL_URL: url,
        PORTAL_ADMIN_EMAIL: 'admin@example.com',
        PORTAL_ADMIN_PASSWORD: 'a-long-password',
        PORTAL_ADMIN_TOKEN_FILE: tokenFile,
      };
      readyAfter = 2;
      const first = await runBootstrap(env);
      expect(first).toEqual({ code: 0, output: expect.stringContaining('API token written') as unknown });
      expect(readyAfter).toBeLessThan(0);
      expect(bootstraps).toEqual([
        { username: 'admin@example.com', password: 'a-long-password', first_name: 'Portal', last_name: 'Admin' },
      ]);
      expect(readFileSync(tokenFile, 'utf8')).toBe('jwt-token-1\n');
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      // A restart of the stack: the token is there, the portal is not asked again.
      expect((await runBootstrap(env)).code).toBe(0);
      expect(bootstraps).toHaveLength(1);
    });

    it('should stop with one line saying what to do when the portal was bootstrapped before', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'portal-token-'));
      bootstrapStatus = 400;
      const env = {
        PORTAL_URL: url,
        PORTAL_ADMIN_EMAIL: 'admin@example.com',
        PORTAL_ADMIN_PASSWORD: 'a-long-password',
        PORTAL_ADMIN_TOKEN_FILE: path.join(dir, 'admin-token'),
      };
      const refused = await runBootstrap(env);
      expect(refused.code).toBe(1);
      expect(refused.output.trim().split('\n')).toHaveLength(1);
      expect(refused.output).toMatch(/answered 400 .*TYK_PORTAL_ADMIN_TOKEN/);
      expect(existsSync(path.join(dir, 'admin-token'))).toBe(false);
      // With the token given, it is handed over without asking the portal.
      const given = await runBootstrap({ ...env, TYK_PORTAL_ADMIN_TOKEN: 'known-token' });
      expect(given.code).toBe(0);
      expect(readFileSync(path.join(dir, 'admin-token'), 'utf8')).toBe('known-token\n');
    });
  });
});
