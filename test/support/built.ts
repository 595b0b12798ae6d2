import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const BROKER_MAIN = path.join(REPO_ROOT, 'dist/apps/broker/apps/broker/src/main.js');

export function builtEntry(app: 'broker' | 'dev-idp' | 'portal-emulator'): string {
  const file = path.join(REPO_ROOT, `dist/apps/${app}/apps/${app}/src/main.js`);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: run \`npm run build\` (npm test does it in pretest)`);
  }
  return file;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built broker entry with arguments and environment, to completion. */
export function runBroker(
  args: string[],
  env: Record<string, string>,
  cwd = REPO_ROOT,
  timeoutMs = 60000,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [builtEntry('broker'), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
