import { hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Answers written straight to node:http exactly as Express 5's `res.json()` / `res.send(string)`
 * write them (same headers, in the same order), for the request front and the lean routes. Not
 * for conditional GETs: Express may turn those into 304s, so the lean routes leave them to Express.
 */

export const JSON_TYPE = 'application/json; charset=utf-8';
export const HTML_TYPE = 'text/html; charset=utf-8';

/** Express's default ETag (the `etag` package, weak): `W/"<byte length, hex>-<27 chars of base64 SHA-1>"`. */
export function weakEtag(text: string, byteLength: number): string {
  return `W/"${byteLength.toString(16)}-${hash('sha1', text, 'base64').substring(0, 27)}"`;
}

export function sendText(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  contentType: string,
  text: string,
): void {
  const length = Buffer.byteLength(text, 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', String(length));
  res.setHeader('ETag', weakEtag(text, length));
  // A string (not a Buffer) lets node send the head and the body in one write.
  if (req.method === 'HEAD') res.end();
  else res.end(text);
}

export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  sendText(req, res, status, JSON_TYPE, JSON.stringify(value));
}
