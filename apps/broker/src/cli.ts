import { createWriteStream, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { AuditService, verifyExportFiles } from '@app/audit';
import { DevelopersService } from '@app/developers';
import { InactivityJob } from '@app/provisioning';
import path from 'node:path';
import { maskSecrets } from '@app/common';
import { configSlices, type ConfigLoadResult } from '@app/config';
import { databaseOptions, migrateDatabase } from '@app/database';
import { ProfilesService } from '@app/profiles';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { AppModule } from './app.module.js';
import { renderReport } from './doctor/doctor-report.js';
import { DoctorService } from './doctor/doctor.service.js';
import { importProfilesFile } from './profiles-file.js';
import { ALL_ENTITIES } from './entities.js';
import { withDatabase } from './server.js';

const USAGE = `Usage: npm run broker -- <command>   (or: node dist/apps/broker/apps/broker/src/main.js <command>)

Commands:
  config check                 validate the configuration and print it with secrets masked
  migration run                apply pending migrations
  migration revert             revert the last migration
  migration check              fail when the entities and the migrations disagree
  migration generate <Name>    write a migration for the difference into libs/database/src/migrations
  profiles list                list the stored profiles
  profiles import <file>       import a TIB profiles.json (create or replace by ID; all or nothing)
  profiles export <file|->     write every profile to a TIB-compatible profiles.json (- for stdout)
  developers list [email]      list developers (optionally one email)
  developers block <id>        block a developer (their logins fail with developer_blocked)
  developers unblock <id>      unblock a developer
  developers erase <id>        erase a developer's personal data (the audit log keeps pseudonymous ids)
  developers deactivate-inactive [--dry-run]
                               block developers with no login for BROKER_DEPROVISION_INACTIVE_DAYS days
                               (--dry-run: only list them)
  doctor [--profile ID] [--write-probe]
                               check a profile (default: every profile) end to end without a user:
                               IdP discovery, keys, client credentials, redirect URI, portal secrets
                               and teams, risky settings; exit 1 on any ✗. --write-probe also creates
                               and removes a throwaway organisation, team and user in the portal
  audit verify [from] [to] [--expected-head HASH]
                               recompute the audit hash chain and check the signed checkpoints
                               (optionally an id range); exit 1 if broken
  audit verify --export FILE.ndjson --keys KEYS.json --checkpoints CPS.json [--expected-head HASH]
                               verify an export offline: no database, no broker
  audit checkpoint             seal and sign a checkpoint up to the head now
  audit export <file|-> [ndjson|csv]
                               write every audit event (default ndjson)

Options (as for the server): -c/--conf <tib.conf>, -p/--profiles <profiles.json>
`;

function positional(argv: string[]): string[] {
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

async function withDataSource<T>(loaded: ConfigLoadResult, fn: (ds: DataSource) => Promise<T>): Promise<T> {
  const { config, embedded } = await withDatabase(loaded.config);
  // Migrations are the owner's job (DATABASE_MIGRATION_URL when set).
  const ds = new DataSource({ ...databaseOptions(configSlices(config).database, { asOwner: true }), entities: ALL_ENTITIES });
  await ds.initialize();
  try {
    return await fn(ds);
  } finally {
    await ds.destroy();
    await embedded?.stop();
  }
}

async function migration(sub: string | undefined, name: string | undefined, loaded: ConfigLoadResult): Promise<number> {
  switch (sub) {
    case 'run': {
      const { config, embedded } = await withDatabase(loaded.config);
      try {
        // Also writes the owner-only settings and the runtime role's grants.
        const done = await migrateDatabase(configSlices(config).database);
        process.stdout.write(done.length ? done.map((m) => `applied ${m}\n`).join('') : 'no pending migrations\n');
        return 0;
      } finally {
        await embedded?.stop();
      }
    }
    case 'revert':
      return withDataSource(loaded, async (ds) => {
        await ds.undoLastMigration({ transaction: 'each' });
        process.stdout.write('reverted the last migration\n');
        return 0;
      });
    case 'check':
    case 'generate':
      return withDataSource(loaded, async (ds) => {
        await ds.runMigrations({ transaction: 'each' });
        const sql = await ds.driver.createSchemaBuilder().log();
        if (sub === 'check') {
          if (sql.upQueries.length === 0) {
            process.stdout.write('migrations and entities agree\n');
            return 0;
          }
          process.stderr.write(
            `entities and migrations disagree; missing from the migrations:\n${sql.upQueries.map((q) => `  ${q.query};`).join('\n')}\n`,
          );
          return 1;
        }
        if (!name || !/^[A-Z][A-Za-z0-9]*$/.test(name)) {
          process.stderr.write('migration generate needs a PascalCase name, e.g. `migration generate AddDevelopers`\n');
          return 2;
        }
        if (sql.upQueries.length === 0) {
          process.stdout.write('nothing to generate: migrations and entities agree\n');
          return 0;
        }
        const ts = Date.now();
        const q = (s: string) => JSON.stringify(s);
        const body = `import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ${name}${ts} implements MigrationInterface {
  name = '${name}${ts}';

  async up(queryRunner: QueryRunner): Promise<void> {
${sql.upQueries.map((u) => `    await queryRunner.query(${q(u.query)});`).join('\n')}
  }

  async down(queryRunner: QueryRunner): Promise<void> {
${sql.downQueries
  .reverse()
  .map((d) => `    await queryRunner.query(${q(d.query)});`)
  .join('\n')}
  }
}
`;
        const file = path.resolve('libs/database/src/migrations', `${ts}-${name}.ts`);
        writeFileSync(file, body);
        process.stdout.write(
          `wrote ${file}\nregister it at the end of MIGRATIONS in libs/database/src/migrations/index.ts\n`,
        );
        return 0;
      });
    case undefined:
    default:
      process.stderr.write(USAGE);
      return 2;
  }
}

/** Boots the broker's modules without HTTP; logs go to stderr so stdout stays clean for output. */
async function withAppContext<T>(
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

async function profiles(sub: string | undefined, file: string | undefined, loaded: ConfigLoadResult): Promise<number> {
  switch (sub) {
    case 'list':
      return withAppContext(loaded, async (app) => {
        const all = await app.get(ProfilesService).list();
        const rows = all.map((s) => [
          s.profile.ID,
          s.profile.Name,
          s.profile.ActionType,
          s.profile.ProviderName,
          String(s.version),
        ]);
        const header = ['ID', 'NAME', 'ACTION', 'PROVIDER', 'VERSION'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
        for (const row of [header, ...rows]) {
          process.stdout.write(`${row.map((c, i) => c.padEnd(widths[i])).join('  ')}\n`);
        }
        return 0;
      });
    case 'import':
      if (!file) break;
      return withAppContext(loaded, async (app) => {
        const result = await importProfilesFile(app.get(ProfilesService), file, 'system:cli');
        process.stdout.write(
          `imported ${file}: ${result.created.length} created, ${result.replaced.length} replaced\n`,
        );
        return 0;
      });
    case 'export':
      if (!file) break;
      return withAppContext(loaded, async (app) => {
        const all = await app.get(ProfilesService).list();
        const text = `${JSON.stringify(
          all.map((s) => s.profile),
          null,
          2,
        )}\n`;
        if (file === '-') process.stdout.write(text);
        else {
          writeFileSync(file, text);
          process.stdout.write(`exported ${all.length} profile(s) to ${file}\n`);
        }
        return 0;
      });
    case undefined:
    default:
      break;
  }
  process.stderr.write(USAGE);
  return 2;
}

async function developers(
  sub: string | undefined,
  arg: string | undefined,
  loaded: ConfigLoadResult,
  dryRun = false,
): Promise<number> {
  const actor = 'system:cli';
  switch (sub) {
    case 'list':
      return withAppContext(loaded, async (app) => {
        const service = app.get(DevelopersService);
        let cursor: string | undefined;
        do {
          const page = await service.list({ email: arg, cursor, limit: 1000 });
          for (const d of page.data) {
            process.stdout.write(
              `${d.id}  ${d.status.padEnd(7)}  ${d.email ?? '(erased)'}  ${d.organisationId ?? '-'}  logins=${d.loginCount}\n`,
            );
          }
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        return 0;
      });
    case 'deactivate-inactive':
      return withAppContext(loaded, async (app) => {
        const job = app.get(InactivityJob);
        if (loaded.config.provisioning.inactiveDays === 0) {
          process.stderr.write('BROKER_DEPROVISION_INACTIVE_DAYS is 0 (the policy is off): nothing to do\n');
          return 1;
        }
        const list = await job.candidates();
        for (const d of list) {
          process.stdout.write(
            `${d.id}  ${d.email ?? '(erased)'}  last_login=${d.lastLoginAt?.toISOString() ?? 'never'}\n`,
          );
        }
        if (dryRun) {
          process.stdout.write(`dry run: ${list.length} developer(s) would be deactivated\n`);
          return 0;
        }
        const result = await job.run();
        if (!result.ran) {
          process.stderr.write('another instance is running the inactivity policy; try again later\n');
          return 1;
        }
        process.stdout.write(`deactivated ${result.deactivated.length} developer(s)\n`);
        return 0;
      });
    case 'block':
    case 'unblock':
    case 'erase':
      if (!arg) break;
      return withAppContext(loaded, async (app) => {
        const service = app.get(DevelopersService);
        const done =
          sub === 'block'
            ? await service.block(arg, actor)
            : sub === 'unblock'
              ? await service.unblock(arg, actor)
              : await service.erase(arg, actor);
        process.stdout.write(
          `${sub}: ${done.id} is now ${done.status}${sub === 'erase' ? ' (personal data erased)' : ''}\n`,
        );
        return 0;
      });
    case undefined:
    default:
      break;
  }
  process.stderr.write(USAGE);
  return 2;
}

/** `--name value` or `--name=value` from the raw arguments. */
function option(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1];
    if (argv[i].startsWith(`${name}=`)) return argv[i].slice(name.length + 1);
  }
  return undefined;
}

const VALUE_OPTIONS = ['--export', '--keys', '--checkpoints', '--expected-head'];

async function audit(
  sub: string | undefined,
  args: string[],
  loaded: ConfigLoadResult,
  argv: string[],
): Promise<number> {
  switch (sub) {
    case 'verify': {
      const expectedHead = option(argv, '--expected-head') ?? null;
      const exportFile = option(argv, '--export');
      if (exportFile) {
        const keysFile = option(argv, '--keys');
        const checkpointsFile = option(argv, '--checkpoints');
        if (!keysFile || !checkpointsFile) break;
        const result = await verifyExportFiles({ exportFile, keysFile, checkpointsFile, expectedHead });
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return result.status === 'intact' ? 0 : 1;
      }
      const values = new Set(VALUE_OPTIONS.map((o) => option(argv, o)).filter(Boolean));
      const range = args.filter((a) => !values.has(a));
      return withAppContext(loaded, async (app) => {
        const service = app.get(AuditService);
        await service.sealNow();
        const result = await service.verify(
          { fromId: range[0] ?? null, toId: range[1] ?? null, expectedHead },
          { recordAs: 'system:cli' },
        );
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return result.status === 'intact' ? 0 : 1;
      });
    }
    case 'checkpoint':
      return withAppContext(loaded, async (app) => {
        const made = await app.get(AuditService).checkpointNow();
        process.stdout.write(`signed ${made} checkpoint(s)\n`);
        return 0;
      });
    case 'export': {
      const file = args[0];
      const format = args[1] ?? 'ndjson';
      if (!file) break;
      return withAppContext(loaded, async (app) => {
        const stream = await app.get(AuditService).exportEvents({}, format);
        await pipeline(stream, file === '-' ? process.stdout : createWriteStream(file));
        if (file !== '-') process.stdout.write(`exported the audit log to ${file} (${format})\n`);
        return 0;
      });
    }
    case undefined:
    default:
      break;
  }
  process.stderr.write(USAGE);
  return 2;
}

function optionValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  return argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** `doctor`: the setup doctor's report for one profile or all of them; 1 when any item fails. */
async function doctor(argv: string[], loaded: ConfigLoadResult): Promise<number> {
  const only = optionValue(argv, '--profile');
  if (argv.includes('--profile') && (only === undefined || only.startsWith('-'))) {
    process.stderr.write('doctor --profile needs a profile ID\n');
    return 2;
  }
  return withAppContext(loaded, async (app) => {
    const ids = only !== undefined ? [only] : (await app.get(ProfilesService).list()).map((s) => s.profile.ID);
    if (ids.length === 0) {
      process.stderr.write('no profiles to check: create one first (npm run broker -- profiles import <file>)\n');
      return 1;
    }
    let ok = true;
    for (const id of ids) {
      const result = await app.get(DoctorService).check(id, { writeProbe: argv.includes('--write-probe') });
      process.stdout.write(renderReport(result));
      ok &&= result.ok;
    }
    return ok ? 0 : 1;
  });
}

/** Runs one command and returns the process exit code. */
export async function runCli(argv: string[], loaded: ConfigLoadResult): Promise<number> {
  const [command, sub, ...rest] = positional(argv);
  try {
    switch (command) {
      case 'help':
        process.stdout.write(USAGE);
        return 0;
      case 'config':
        if (sub !== 'check') break;
        for (const notice of loaded.notices) process.stdout.write(`note: ${notice}\n`);
        for (const warning of loaded.warnings) process.stdout.write(`warning: ${warning}\n`);
        process.stdout.write(`${JSON.stringify(maskSecrets(loaded.config), null, 2)}\n`);
        return 0;
      case 'migration':
        return await migration(sub, rest[0], loaded);
      case 'profiles':
        return await profiles(sub, rest[0], loaded);
      case 'developers':
        return await developers(sub, rest[0], loaded, argv.includes('--dry-run'));
      case 'audit':
        return await audit(sub, rest, loaded, argv);
      case 'doctor':
        return await doctor(argv, loaded);
      case undefined:
      default:
        break;
    }
  } catch (e) {
    process.stderr.write(`${command ?? ''} ${sub ?? ''} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  process.stderr.write(USAGE);
  return 2;
}
