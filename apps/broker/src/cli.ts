import { maskSecrets } from '@app/common';
import type { ConfigLoadResult } from '@app/config';
import { audit } from './cli/audit.command.js';
import { positional } from './cli/cli-context.js';
import { developers } from './cli/developers.command.js';
import { doctor } from './cli/doctor.command.js';
import { migration } from './cli/migration.command.js';
import { profiles } from './cli/profiles.command.js';
import { USAGE } from './cli/usage.js';

// The command line (`npm run broker -- <command>`): this file dispatches; each command group is
// in cli/<group>.command.ts, what they share in cli/cli-context.ts, the help text in cli/usage.ts.

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
