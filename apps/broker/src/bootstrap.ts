import { readFileSync } from 'node:fs';
import type { BrokerConfig } from '@app/config';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import { AppModule, type AppModuleOptions } from './app.module.js';

/**
 * Builds the broker application (not yet listening). Shared by the production entry and the
 * e2e tests, so tests exercise exactly the pipes, filters, limits and headers users get.
 */
export async function createBrokerApp(
  config: BrokerConfig,
  options: AppModuleOptions = {},
): Promise<NestExpressApplication> {
  const httpsOptions = config.httpServerOptions.useSSL
    ? { cert: readFileSync(config.httpServerOptions.certFile), key: readFileSync(config.httpServerOptions.keyFile) }
    : undefined;
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, options), {
    bufferLogs: true,
    bodyParser: false,
    httpsOptions,
  });
  app.useLogger(app.get(Logger));
  app.set('trust proxy', config.trustedProxies);
  app.disable('x-powered-by');
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'default-src': ["'self'"],
          'style-src': ["'self'", "'unsafe-inline'"],
          'img-src': ["'self'", 'data:'],
        },
      },
    }),
  );
  app.useBodyParser('json', { limit: config.bodyLimitBytes, type: ['application/json', 'application/*+json'] });
  app.useBodyParser('urlencoded', { limit: config.bodyLimitBytes, extended: false });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Portal SSO Broker')
      .setDescription('Admin API (TIB-compatible /api/profiles, audit, developers), login routes and health.')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'Authorization' }, 'tib-secret')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'admin-token')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
