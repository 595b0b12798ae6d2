import { createWriteStream, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { AuditService, signingKeyFromText, trustedKeysFromText, verifyExportFiles } from '@app/audit';
import type { JWK } from 'jose';
import type { ConfigLoadResult } from '@app/config';
import { option, withAppContext } from './cli-context.js';
import { USAGE } from './usage.js';

const VALUE_OPTIONS = ['--export', '--keys', '--checkpoints', '--expected-head'];

/**
 * The public halves of `files` as one JWKS, for BROKER_AUDIT_TRUSTED_KEYS_FILE: each file is a
 * private key (PEM or JWK, as BROKER_AUDIT_SIGNING_KEY_FILE) or public keys (a JWKS such as a saved
 * GET /api/audit/keys, or one JWK). Every key is checked as the broker checks it at start.
 */
export async function publicKeys(files: string[]): Promise<{ keys: JWK[] }> {
  const keys = new Map<string, JWK>();
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    let found: JWK[];
    try {
      found = [(await signingKeyFromText(text)).publicJwk];
    } catch {
      try {
        found = await trustedKeysFromText(text);
      } catch (e) {
        throw new Error(
          `${file}: neither a private key nor public keys (${e instanceof Error ? e.message : String(e)})`,
          {
            cause: e,
          },
        );
      }
    }
    for (const jwk of found) keys.set(jwk.kid as string, jwk);
  }
  return { keys: [...keys.values()] };
}

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
        process.stdout.write(`${JSON.stringify(await publicKeys(args))}\n`);
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
