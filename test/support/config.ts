import { configSlices, loadBrokerConfig, type BrokerConfig } from '@app/config';

/** The broker's validated configuration for a test: env (and argv) over the test defaults. */
export function testConfig(env: Record<string, string> = {}, argv: string[] = []): BrokerConfig {
  return loadBrokerConfig({
    env: { TYK_IB_PORT: '3010', BROKER_DATA_DIR: '/tmp/broker-test-data', ...env },
    argv,
    cwd: '/tmp',
  }).config;
}

/** The per-concern slices (server, database, oidc, …) of {@link testConfig}, for code built without Nest. */
export function testSlices(env: Record<string, string> = {}, argv: string[] = []): ReturnType<typeof configSlices> {
  return configSlices(testConfig(env, argv));
}
