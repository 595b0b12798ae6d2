import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import type { BrokerConfig } from './broker-config.js';
import { SESSION_KEYS, SessionKeys } from './session-keys.js';

/** Injection token for the validated BrokerConfig. */
export const BROKER_CONFIG = Symbol('BROKER_CONFIG');

/**
 * Makes the configuration loaded (and validated) by the entry point available everywhere.
 * The config is passed in, never read from process.env here, so two app instances in one test
 * process can run with different settings.
 */
@Global()
@Module({})
export class BrokerConfigModule {
  static forRoot(config: BrokerConfig): DynamicModule {
    return {
      module: BrokerConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ broker: config })] })],
      providers: [
        { provide: BROKER_CONFIG, useValue: config },
        { provide: SESSION_KEYS, useValue: SessionKeys.fromConfig(config) },
      ],
      exports: [BROKER_CONFIG, SESSION_KEYS, ConfigModule],
    };
  }
}
