import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { databaseConfig, type ConfigLoadResult } from '@app/config';
import { databaseOptions } from '@app/database';
import { Logger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { AppModule } from '../app.module.js';
import { ALL_ENTITIES } from '../entities.js';
import { withDatabase } from '../server.js';

// What every command needs: its arguments, and the broker's database or modules to run against.

export function positional(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (['-c', '--conf', '-p', '--profiles'].includes(a)) {
      i++;
    } else if (a === '-' || !a.startsWith('-')) {
      out.push(a);
    }
  }
  return out;
}

/** `--name value` or `--name=value` from the raw arguments. */
export function option(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
  }
  return undefined;
}

export async function withDataSource<T>(loaded: ConfigLoadResult, fn: (ds: DataSource) => Promise<T>): Promise<T> {
  const { config, embedded } = await withDatabase(loaded.config);
  // Migrations are the owner's job (DATABASE_MIGRATION_URL when set).
  const ds = new DataSource({
    ...databaseOptions(databaseConfig.view(config), { asOwner: true }),
    entities: ALL_ENTITIES,
  });
  await ds.initialize();
  try {
    return await fn(ds);
  } finally {
    await ds.destroy();
    await embedded?.stop();
  }
}

/** Boots the broker's modules without HTTP; logs go to stderr so stdout stays clean for output. */
export async function withAppContext<T>(
  loaded: ConfigLoadResult,
  fn: (app: INestApplicationContext) => Promise<T>,
): Promise<T> {
  const { config, embedded } = await withDatabase({ ...loaded.config, logLevel: 'warn' });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot(config, { logStream: process.stderr }), {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  try {
    await app.init();
    return await fn(app);
  } finally {
    await app.close();
    await embedded?.stop();
  }
}
