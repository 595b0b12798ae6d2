import type { BrokerConfig } from '@app/config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '@app/database';
import path from 'node:path';
import { Logger } from '@nestjs/common';
import { ProfilesService } from '@app/profiles';
import { createBrokerApp } from './bootstrap.js';
import { importProfilesFile } from './profiles-file.js';

export interface RunningBroker {
  url: string;
  close(): Promise<void>;
}

/** Starts embedded Postgres when no DATABASE_URL is set; returns the config with the URL filled. */
export async function withDatabase(
  config: BrokerConfig,
): Promise<{ config: BrokerConfig; embedded: EmbeddedDatabase | null }> {
  if (config.database.url) {
    return { config, embedded: null };
  }
  const embedded = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'postgres') });
  return {
    config: { ...config, database: { ...config.database, url: embedded.url, migrationUrl: embedded.migrationUrl } },
    embedded,
  };
}

/**
 * What one process does at start-up. A single broker does everything; a cluster worker
 * (BROKER_WORKERS > 1) skips the migrations the primary ran, and only the first worker the
 * primary forks imports the profiles file.
 */
export interface ServerRole {
  migrate: boolean;
  importProfiles: boolean;
}

/**
 * Runs the broker until SIGINT/SIGTERM: in-flight requests finish, the pool closes, then the
 * embedded Postgres (if any) stops.
 */
export async function runServer(
  initial: BrokerConfig,
  notices: string[],
  warnings: string[] = [],
  role: ServerRole = { migrate: true, importProfiles: true },
): Promise<RunningBroker> {
  const { config, embedded } = await withDatabase(initial);
  const app = await createBrokerApp(config, { migrate: role.migrate });
  const logger = new Logger('Config');
  for (const notice of notices) {
    logger.log(notice);
  }
  for (const warning of warnings) {
    logger.warn(warning);
  }
  try {
    await app.init();
    if (config.profilesFile && role.importProfiles) {
      const result = await importProfilesFile(app.get(ProfilesService), config.profilesFile, 'system:startup-import');
      logger.log(
        `imported ${config.profilesFile}: ${result.created.length} created, ${result.replaced.length} replaced`,
      );
    }
    await app.listen(config.port, config.host);
  } catch (e) {
    await app.close().catch(() => undefined);
    await embedded?.stop();
    if ((e as { code?: string }).code === 'EADDRINUSE') {
      throw new Error(`Port ${config.port} is already in use: set TYK_IB_PORT (or "Port" in tib.conf) to a free port`, {
        cause: e,
      });
    }
    throw e;
  }
  const scheme = config.httpServerOptions.useSSL ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${config.port}`;
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      await app.close();
      await embedded?.stop();
    })();
    return closing;
  };
  return { url, close };
}
