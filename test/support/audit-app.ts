import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditModule, AuditService } from '@app/audit';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { TestDatabase } from './database.js';
import { createLibApp } from './lib-app.js';

/** The audit lib on a test database, as the audit integration specs use it. */
export interface AuditApp {
  app: INestApplication;
  audit: AuditService;
  /** The runtime role's connection (broker_app). */
  ds: DataSource;
  /** BROKER_DATA_DIR: the generated signing key, and the checkpoint copies in `checkpoints/`. */
  dir: string;
}

/**
 * Starts the AuditModule on `db` with a checkpoint every `every` sealed events and the checkpoint
 * copies in `<dir>/checkpoints`. Pass the `dir` of an earlier app to restart it with the same
 * generated key and files; `env` adds or overrides settings.
 */
export async function startAuditApp(
  db: TestDatabase,
  options: { env?: Record<string, string>; dir?: string; every?: number } = {},
): Promise<AuditApp> {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'audit-app-'));
  const app = await createLibApp(db, AuditModule, {
    BROKER_DATA_DIR: dir,
    BROKER_AUDIT_CHECKPOINT_EVERY: String(options.every ?? 5),
    BROKER_AUDIT_CHECKPOINT_DIR: path.join(dir, 'checkpoints'),
    ...options.env,
  });
  await app.init();
  return { app, audit: app.get(AuditService), ds: app.get(DataSource), dir };
}

/** Records `n` successful logins (developer:`from`, …), then seals and signs a checkpoint up to the head. */
export async function recordLogins(audit: AuditService, n: number, from = 1): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await audit.record({ type: 'login.succeeded', outcome: 'success', actor: `developer:${i}`, requestId: `r${i}` });
  }
  await audit.checkpointNow();
}
