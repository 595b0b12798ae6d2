import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { AuditService, publicKeysOfFiles, verifyExportFiles } from '@app/audit';
import type { ConfigLoadResult } from '@app/config';
import { option, withAppContext } from './cli-context.js';
import { USAGE } from './usage.js';

const VALUE_OPTIONS = ['--export', '--keys', '--checkpoints', '--expected-head'];

/** `audit verify [from] [to]|verify --export …|checkpoint|export <file|-> [format]|public-key <file>…`. */
export async function audit(
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
    case 'public-key': {
      if (args.length === 0) break;
      try {
        process.stdout.write(`${JSON.stringify(await publicKeysOfFiles(args))}\n`);
        return 0;
      } catch (e) {
        process.stderr.write(`audit public-key: ${e instanceof Error ? e.message : String(e)}\n`);
        return 1;
      }
    }
    case undefined:
    default:
      break;
  }
  process.stderr.write(USAGE);
  return 2;
}
