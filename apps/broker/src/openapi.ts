import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { isLoginPath } from './common/tib-paths.js';

/** What the login routes are documented as: a browser arrives by GET; TIB's forms may POST. */
const LOGIN_METHODS = new Set(['get', 'post']);

/**
 * The broker's OpenAPI document (served at /docs and /docs-json). TIB registers the login routes
 * for every method, and so does the broker (`@All`); listing seven methods apiece documents
 * nothing, so `/auth/…` paths keep only GET and POST. The routes themselves are unchanged.
 */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Portal SSO Broker')
      .setDescription(
        'Admin API (TIB-compatible /api/profiles, audit, developers), SCIM 2.0 (/scim/v2), login routes and health. ' +
          'Errors answer `{ "error": { code, message, requestId, details? } }` (on /api/profiles TIB\'s ' +
          '`{ "Status": "error", "Error": … }`); each route lists its codes per status.',
      )
      .addApiKey({ type: 'apiKey', in: 'header', name: 'Authorization' }, 'tib-secret')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'admin-token')
      .addBearerAuth({ type: 'http', scheme: 'bearer' }, 'scim-token')
      .build(),
  );
  for (const [path, item] of Object.entries(document.paths)) {
    if (!isLoginPath(path)) continue;
    const methods = item as Record<string, unknown>;
    for (const method of Object.keys(methods)) {
      if (['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'search'].includes(method)) {
        if (!LOGIN_METHODS.has(method)) delete methods[method];
      }
    }
  }
  return document;
}
