import { writeFileSync } from 'node:fs';
import type { ConfigLoadResult } from '@app/config';
import { ProfilesService } from '@app/profiles';
import { importProfilesFile } from '../profiles-file.js';
import { withAppContext } from './cli-context.js';
import { USAGE } from './usage.js';

/** `profiles list|import <file>|export <file|->`. */
export async function profiles(
  sub: string | undefined,
  file: string | undefined,
  loaded: ConfigLoadResult,
): Promise<number> {
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
