import { readFileSync } from 'node:fs';
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

  it('should document in .env.example every variable the compose file reads', () => {
    const used = new Set([...read('docker/compose.yaml').matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]));
    const documented = new Set([...envExample.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(5);
    for (const v of used) expect(documented).toContain(v);
  });
});
