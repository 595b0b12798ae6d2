// Builds every app of the monorepo (nest build, tsc builder) and stamps dist/ so that
// scripts/ensure-built.mjs can tell whether the sources changed since.
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';

const cli = JSON.parse(readFileSync('nest-cli.json', 'utf8'));
for (const name of Object.keys(cli.projects).filter((p) => cli.projects[p].type === 'application')) {
  process.stdout.write(`building ${name}\n`);
  execFileSync(process.execPath, ['node_modules/@nestjs/cli/bin/nest.js', 'build', name], { stdio: 'inherit' });
}
// The console's own browser script is plain JavaScript served as a file (tsc does not copy it).
cpSync('apps/broker/src/console/assets', 'dist/apps/broker/apps/broker/src/console/assets', { recursive: true });
mkdirSync('dist', { recursive: true });
writeFileSync('dist/.built', new Date().toISOString());
