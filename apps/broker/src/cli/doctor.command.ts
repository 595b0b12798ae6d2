import type { ConfigLoadResult } from '@app/config';
import { ProfilesService } from '@app/profiles';
import { renderReport } from '../doctor/doctor-report.js';
import { DoctorService } from '../doctor/doctor.service.js';
import { option, withAppContext } from './cli-context.js';

/** `doctor`: the setup doctor's report for one profile or all of them; 1 when any item fails. */
export async function doctor(argv: string[], loaded: ConfigLoadResult): Promise<number> {
  const only = option(argv, '--profile');
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
