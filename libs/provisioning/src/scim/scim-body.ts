import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { SCIM_CONTENT_TYPE, scimErrorBody } from './scim-error.js';

const JSON_TYPES = /^application\/(scim\+)?json\b/i;

/**
 * Middleware for `/scim`: bodies as application/scim+json or application/json (what Entra ID and
 * Okta send) up to the broker's body limit; another type is 415, malformed JSON 400
 * `invalidSyntax`, an oversized body 413, each in the SCIM error schema.
 */
export function scimBodyParser(limitBytes: number): (RequestHandler | ErrorRequestHandler)[] {
  const typeCheck: RequestHandler = (req, res, next) => {
    const hasBody =
      (req.get('content-length') !== undefined && req.get('content-length') !== '0') || req.get('transfer-encoding');
    if (hasBody && !JSON_TYPES.test(req.get('content-type') ?? '')) {
      res
        .status(415)
        .type(SCIM_CONTENT_TYPE)
        .send(JSON.stringify(scimErrorBody(415, null, 'Send the body as application/scim+json')));
      return;
    }
    next();
  };
  const parse = express.json({ limit: limitBytes, type: ['application/scim+json', 'application/json'], strict: true });
  const errors: ErrorRequestHandler = (error: { status?: number; type?: string }, _req, res, next) => {
    const status = error.status === 413 ? 413 : error.status === 400 ? 400 : null;
    if (status === null) return next(error);
    res
      .status(status)
      .type(SCIM_CONTENT_TYPE)
      .send(
        JSON.stringify(
          scimErrorBody(
            status,
            status === 400 ? 'invalidSyntax' : null,
            status === 413 ? 'The body is too large' : 'The body is not valid JSON',
          ),
        ),
      );
  };
  return [typeCheck, parse, errors];
}
