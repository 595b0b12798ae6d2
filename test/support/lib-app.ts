import { isDomainError } from '@app/common';
import { BrokerConfigModule } from '@app/config';
import { DatabaseModule } from '@app/database';
import {
  Catch,
  HttpException,
  ValidationPipe,
  type ArgumentsHost,
  type ExceptionFilter,
  type INestApplication,
  type ModuleMetadata,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Response } from 'express';
import { testConfig } from './config.js';
import type { TestDatabase } from './database.js';

/**
 * One lib's Nest module with the configuration and database modules around it, on a test
 * database (the libs' int specs; libs cannot import the broker app). Not yet initialised.
 * The background sealer is slowed to a minute so that tests decide when events are sealed.
 */
export async function createLibApp(
  db: TestDatabase,
  module: NonNullable<ModuleMetadata['imports']>[number],
  env: Record<string, string> = {},
): Promise<INestApplication> {
  const config = testConfig({ DATABASE_URL: db.url, BROKER_AUDIT_SEAL_INTERVAL_MS: '60000', ...env });
  const moduleRef = await Test.createTestingModule({
    imports: [BrokerConfigModule.forRoot(config), DatabaseModule.forRoot(), module],
  }).compile();
  return moduleRef.createNestApplication({ logger: false });
}

/** Stand-in for the broker's global filter: the given domain codes → their HTTP status, else 500. */
@Catch()
class TestErrorFilter implements ExceptionFilter {
  constructor(private readonly statuses: Record<string, number>) {}

  catch(e: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (isDomainError(e)) {
      res.status(this.statuses[e.code] ?? 500).json({ error: { code: e.code, message: e.message } });
    } else if (e instanceof HttpException) {
      res.status(e.getStatus()).json({ error: { code: 'http', message: JSON.stringify(e.getResponse()) } });
    } else {
      res.status(500).json({ error: { code: 'internal', message: String(e) } });
    }
  }
}

/**
 * Serves the lib's controllers the way the broker does (its validation pipe, domain codes mapped
 * to statuses) on a free loopback port; returns the base URL.
 */
export async function listenLikeBroker(app: INestApplication, statuses: Record<string, number>): Promise<string> {
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  app.useGlobalFilters(new TestErrorFilter(statuses));
  await app.listen(0, '127.0.0.1');
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}
