import { databaseConfig, type DatabaseConfig } from '@app/config';
import { DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { databaseOptions } from './database-options.js';
import { migrateDatabase } from './database-roles.js';

@Module({})
export class DatabaseModule {
  /**
   * `migrate: false` for a cluster worker: the primary ran the migrations before forking it (and
   * N workers migrating at once would race).
   */
  static forRoot(options: { migrate?: boolean } = {}): DynamicModule {
    const migrate = options.migrate ?? true;
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [databaseConfig.KEY],
          useFactory: async (config: DatabaseConfig) => {
            // As the owner (DATABASE_MIGRATION_URL) when set; the broker itself runs as DATABASE_URL.
            if (migrate) await migrateDatabase(config);
            return {
              ...databaseOptions(config),
              autoLoadEntities: true,
              // Fail fast at start-up with a clear message instead of retrying for minutes.
              retryAttempts: 2,
              retryDelay: 500,
            };
          },
        }),
      ],
    };
  }
}
