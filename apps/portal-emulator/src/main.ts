import { Logger } from '@nestjs/common';
import { emulatorOptionsFromEnv } from './emulator-env.js';
import { startPortalEmulator } from './emulator.js';

/** Runs the portal emulator on its own (local stack, child-process tests, the benchmark); env: emulator-env.ts. */
async function main(): Promise<void> {
  const options = emulatorOptionsFromEnv(process.env);
  // Only warnings and errors from Nest: the one line below is the startup log.
  Logger.overrideLogger(['error', 'warn']);
  const emulator = await startPortalEmulator(options);
  process.stdout.write(`Portal emulator listening on ${emulator.url}\n`);
  const stop = (signal: string) => {
    process.stdout.write(`${signal} received: stopping the portal emulator\n`);
    emulator.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
