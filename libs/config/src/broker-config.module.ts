import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule, registerAs } from '@nestjs/config';
import type { BrokerConfig } from './broker-config.js';
import { CONFIG_SLICES } from './config-slices.js';
import { SESSION_KEYS, SessionKeys } from './session-keys.js';

/**
 * Injection token for the whole validated BrokerConfig. Only the app's entry points and what spans
 * every concern (the doctor) use it; libs inject their slice (`@Inject(xConfig.KEY)`, config-slices.ts).
 */
export const BROKER_CONFIG = Symbol('BROKER_CONFIG');

/**
 * Makes the configuration loaded (and validated) by the entry point available everywhere: through
 * `ConfigModule`, one `registerAs` slice per concern under its `KEY` (and `ConfigService.get('server.port')`),
 * each a view of this config. The config is passed in, never read from process.env here, so two app
 * instances in one test process can run with different settings.
 */
@Global()
@Module({})
export class BrokerConfigModule {
  static forRoot(config: BrokerConfig): DynamicModule {
    // Per instance: the same KEY as the module-level slice, the value from this config.
    const load = CONFIG_SLICES.map((s) => registerAs(s.sliceName, () => s.view(config)));
    return {
      module: BrokerConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, validatePredefined: false, skipProcessEnv: true, load })],
      providers: [
        { provide: BROKER_CONFIG, useValue: config },
        { provide: SESSION_KEYS, useValue: SessionKeys.fromConfig(config) },
      ],
      exports: [BROKER_CONFIG, SESSION_KEYS, ConfigModule],
    };
  }
}
