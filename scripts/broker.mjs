// `npm run broker -- <command>`: the built entry with a command (builds first when stale).
import { spawn } from 'node:child_process';
import { ensureBuilt } from './ensure-built.mjs';
import { BROKER_NODE_FLAGS } from './node-flags.mjs';

ensureBuilt();
const child = spawn(
  process.execPath,
  [...BROKER_NODE_FLAGS, 'dist/apps/broker/apps/broker/src/main.js', ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
for (const signal of /** @type {NodeJS.Signals[]} */ (['SIGINT', 'SIGTERM'])) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
