// Builds when any source under apps/ or libs/ is newer than the last build. Lets `npm start`,
// `npm run broker` and the tests run the real built entry without a manual build step.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function newest(dir) {
  let max = 0;
  if (!existsSync(dir)) return max;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) max = Math.max(max, newest(p));
    else if (['.ts', '.json', '.js'].some((ext) => entry.name.endsWith(ext))) max = Math.max(max, statSync(p).mtimeMs);
  }
  return max;
}

export function ensureBuilt() {
  const stamp = 'dist/.built';
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  const sources = Math.max(
    newest('apps'),
    newest('libs'),
    statSync('tsconfig.json').mtimeMs,
    statSync('nest-cli.json').mtimeMs,
  );
  if (sources > built) {
    execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: ['ignore', process.stderr, 'inherit'] });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  ensureBuilt();
}
