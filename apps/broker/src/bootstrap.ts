import { readFileSync } from 'node:fs';
import { ServerResponse } from 'node:http';
import type { BrokerConfig } from '@app/config';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { Logger, PinoLogger } from 'nestjs-pino';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { requestLogging } from './common/logging.js';
import { openApiDocument } from './openapi.js';
import { scimBodyParser } from '@app/provisioning';
import { isLoginPath, isProfilesPath } from './common/tib-paths.js';

/** How long an idle client connection stays open (Node's default is 5 s). */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

const PROFILE_BODY_TYPES =
  /^(application\/json|application\/[\w.-]+\+json|application\/octet-stream|text\/plain|application\/x-www-form-urlencoded)\b/i;

/**
 * Bodies TIB scripts send are JSON under one of these types (or none: curl -d's form type, a
 * client's octet-stream or a vendor `+json`); anything else (XML, multipart, …) is 415.
 */
function profilesContentType(req: Request, res: Response, next: NextFunction): void {
  const type = req.get('content-type');
  const hasBody = req.get('content-length') !== undefined && req.get('content-length') !== '0';
  if ((hasBody || req.get('transfer-encoding')) && type !== undefined && !PROFILE_BODY_TYPES.test(type)) {
    res.status(415).json({ Status: 'error', Error: `Unsupported content type ${type}: send the profile as JSON` });
    return;
  }
  next();
}

const EXPRESS_JSON_TYPE = /^application\/json; charset=utf-8$/i;

/** Whether TIB sends this request's JSON as `application/json` exactly (Express routes any case). */
function tibJsonPath(url: string | undefined): boolean {
  const path = (url ?? '').split('?', 1)[0].toLowerCase();
  return isLoginPath(path) || isProfilesPath(path);
}

/**
 * TIB answers `/api/profiles` and the login routes' JSON with `Content-Type: application/json`
 * exactly, and TIB's own tests assert it; Express appends `; charset=utf-8` to every JSON body
 * (JSON is UTF-8 by definition, RFC 8259, so the parameter says nothing). Covers the controller,
 * the filters, the guards and 415s. Set once on Express's response prototype rather than by a
 * middleware wrapping each response's setHeader: on the login path that wrapper was a closure and
 * a new own property (a hidden-class change) per request, for an answer that is almost never JSON.
 */
export function exactJsonContentType(expressApp: { response: object }): void {
  const base = ServerResponse.prototype;
  Object.defineProperty(expressApp.response, 'setHeader', {
    configurable: true,
    writable: true,
    value: function (this: ServerResponse & { req?: { originalUrl?: string } }, name: string, value: unknown) {
      const exact =
        typeof value === 'string' &&
        value.length === 31 &&
        EXPRESS_JSON_TYPE.test(value) &&
        name.toLowerCase() === 'content-type' &&
        tibJsonPath(this.req?.originalUrl);
      return base.setHeader.call(this, name, exact ? 'application/json' : (value as string));
    },
  });
}

/**
 * The admin API's routes with a body take JSON only: anything else is a 415, not a confusing 400.
 * The login routes are not covered: TIB accepts any method and body there (a form POST included).
 * Answers the 415 and returns true when it refused the request.
 */
function refusedAsNotJson(req: Request, res: Response): boolean {
  // The path first: most requests (every login) are not admin API calls.
  const path = req.path;
  if (!path.startsWith('/api/') || isProfilesPath(path)) return false;
  const hasBody =
    (req.get('content-length') !== undefined && req.get('content-length') !== '0') || req.get('transfer-encoding');
  const type = req.get('content-type');
  if (!hasBody || (type !== undefined && /^application\/([\w.+-]*\+)?json\b/i.test(type))) return false;
  res
    .status(415)
    .json({ error: { code: 'unsupported_media_type', message: 'Send the body as application/json', requestId: '' } });
  return true;
}

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
  // Idle keep-alive connections outlive a load balancer's (AWS ALB: 60 s), so the balancer, not the
  // broker, closes them: otherwise a request it sends on a connection the broker just closed fails
  // (a 502 there, ECONNRESET for a direct client whose idle timer runs late on a busy machine).
  const server = app.getHttpServer();
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  // Every request's log line (reqId, X-Request-Id): see requestLogging.
  app.use(requestLogging(PinoLogger.root));
  exactJsonContentType(app.getHttpAdapter().getInstance());
  app.set('trust proxy', config.trustedProxies);
  // Go's json.Marshal (TIB's answers) writes <, > and & as \u003c, \u003e and \u0026; so does this.
  app.set('json escape', true);
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
  // TIB reads /api/profiles bodies as JSON whatever the content type (curl -d sends
  // form-urlencoded), so those routes get the raw text; the controller decodes it as TIB does.
  app.use('/api/profiles', profilesContentType, express.text({ type: () => true, limit: config.bodyLimitBytes }));
  // The security console's forms (CSRF token, block/unblock) are form-urlencoded.
  app.use('/console', express.urlencoded({ extended: false, limit: config.bodyLimitBytes }));
  // SCIM bodies (application/scim+json or JSON) parsed here so that their errors are SCIM errors.
  app.use('/scim', ...scimBodyParser(config.bodyLimitBytes));
  // Every other JSON body; not on the login routes, which never read one (TIB ignores the body
  // there too): no parser runs on a developer's two hops.
  const json = express.json({ limit: config.bodyLimitBytes, type: ['application/json', 'application/*+json'] });
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (isLoginPath(req.url)) next();
    else if (!refusedAsNotJson(req, res)) json(req, res, next);
  });
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  const document = openApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
