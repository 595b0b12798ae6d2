// Runs before `npm test`: installs what the tests need beyond npm packages (Debian's chromium
// for the browser tests) when it is missing, then builds the apps the tests start as processes.
import { execFileSync, execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ensureBuilt } from './ensure-built.mjs';

const CHROMIUM = '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    process.stderr.write(
      `The browser tests need Debian's chromium at ${CHROMIUM}. Install it with: sudo apt-get install -y chromium\n`,
    );
    process.exit(1);
  }
  process.stdout.write('installing chromium (apt-get) for the browser tests\n');
  execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null', {
    stdio: 'inherit',
  });
}
execFileSync(process.execPath, ['--version']);
ensureBuilt();
