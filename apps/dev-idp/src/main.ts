// The dev IdP: a Cloudentity-like OpenID provider for local runs and tests. Configured by
// environment variables only (read here, nowhere else); see apps/dev-idp/README.md.
import { configFromEnv } from './config.js';
import { startDevIdp } from './dev-idp.js';

function log(line: string): void {
  process.stdout.write(`[dev-idp] ${line}\n`);
}

async function main(): Promise<void> {
  const config = configFromEnv(process.env);
  const idp = await startDevIdp(config, log);
  log(`ready issuer=${idp.issuer} login=${idp.loginUrl}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received, stopping`);
    idp.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log(`stop failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`[dev-idp] failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
