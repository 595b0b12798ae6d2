import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { firstClosedFolder } from './postgres-user-access.js';

describe('embedded Postgres in a private folder (npm start as root in a clone under /root)', () => {
  // mkdtemp makes the folder 0700, like /root.
  const privateDir = mkdtempSync(path.join(tmpdir(), 'private-'));
  const dataDir = path.join(privateDir, 'clone', '.data', 'postgres');

  it('should see the real 0700 folder as closed to other users', () => {
    mkdirSync(path.dirname(dataDir), { recursive: true });
    expect(firstClosedFolder(dataDir)).toBe(privateDir);
  });

  it('should, as root, stop with one line saying what to do instead of a spawn error and a stack trace', async () => {
    const started = startEmbeddedPostgres({ dir: dataDir });
    if (process.getuid?.() === 0) {
      await expect(started).rejects.toThrow(
        new RegExp(`^Embedded Postgres cannot start: .*because ${privateDir} is private; .*chmod o\\+x ${privateDir}$`),
      );
    } else {
      // A normal user owns the folder: Postgres runs as that user and starts.
      const db = await started;
      await db.stop();
      expect(db.url).toMatch(/^postgres:\/\//);
    }
  });
});
