import type { ConfigLoadResult } from '@app/config';
import { DevelopersService } from '@app/developers';
import { InactivityJob } from '@app/provisioning';
import { withAppContext } from './cli-context.js';
import { USAGE } from './usage.js';

/** `developers list [email]|deactivate-inactive [--dry-run]|block|unblock|erase <id>`. */
export async function developers(
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
