import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import type { EmulatorContext, PortalFaults, RecordedRequest } from './emulator.context.js';
import { sendJson } from './http-reply.js';

/** What the body reader found; `@JsonBody()` hands it to the controllers. */
export type JsonBody = { kind: 'empty' } | { kind: 'json'; value: unknown } | { kind: 'malformed' };

export interface EmulatorRequest extends Request {
  jsonBody?: JsonBody;
}

/** Answers a request itself and returns true, or returns false to leave it to Nest/Express. */
export type LeanRouter = (
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: string,
  body: JsonBody,
) => boolean;

const MAX_BODY_BYTES = 1024 * 1024;
export const CONTROL_PREFIX = '/__emulator';
const EMPTY: JsonBody = Object.freeze({ kind: 'empty' });
const MALFORMED: JsonBody = Object.freeze({ kind: 'malformed' });

/** A read error of the body, handed to Express's error handling (see `rethrowFrontError`). */
const FRONT_ERROR = Symbol('portalEmulatorFrontError');
type FrontRequest = IncomingMessage & { jsonBody?: JsonBody; [FRONT_ERROR]?: unknown };

/** Reads the whole body; `null` when it is larger than MAX_BODY_BYTES (the request is then destroyed). */
function readBody(req: IncomingMessage, done: (raw: Buffer | null) => void, fail: (err: unknown) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  req.on('data', (chunk: Buffer) => {
    if (settled) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      settled = true;
      req.destroy();
      // Answered after the destroy, as the promise-based reader this replaces did.
      queueMicrotask(() => done(null));
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (settled) return;
    settled = true;
    done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
  req.on('error', (err) => {
    if (settled) return;
    settled = true;
    fail(err);
  });
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  const headers = req.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Appends to the request log and keeps only its last `maxRecordedRequests` entries. */
function record(ctx: EmulatorContext, entry: RecordedRequest): void {
  const log = ctx.requests;
  log.push(entry);
  while (log.length > ctx.maxRecordedRequests) log.shift();
}

/** Whether the faults apply to this request: it matches them, and `skip`/`times` leave it in. */
function faultApplies(ctx: EmulatorContext, faults: PortalFaults, method: string, path: string): boolean {
  const matches =
    (!faults.paths || faults.paths.some((prefix) => path.startsWith(prefix))) &&
    (!faults.methods || faults.methods.includes(method));
  if (!matches) return false;
  const n = ++ctx.faultMatches;
  const skip = faults.skip ?? 0;
  return n > skip && (faults.times === undefined || n <= skip + faults.times);
}

/**
 * Lets the request be carried out (its effects stay), then loses the answer: whatever the route
 * writes goes nowhere, and when it ends the client gets `status` instead, or, without one, a
 * reset connection. What a client sees when the portal committed but the answer was lost.
 */
function loseAnswer(req: IncomingMessage, res: ServerResponse, path: string, status: number | undefined): void {
  const swallowed = res as unknown as Record<'writeHead' | 'write' | 'end' | 'flushHeaders', unknown>;
  swallowed.writeHead = () => res;
  swallowed.write = () => true;
  swallowed.flushHeaders = () => undefined;
  swallowed.end = () => {
    // Back to ServerResponse's own methods, then the fault instead of the route's answer.
    delete swallowed.writeHead;
    delete swallowed.write;
    delete swallowed.flushHeaders;
    delete swallowed.end;
    if (status) {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      sendJson(req, res, status, faultBody(path, status));
    } else {
      res.socket?.resetAndDestroy();
    }
    return res;
  };
}

function faultBody(path: string, status: number): unknown {
  const message = `Injected fault (HTTP ${status})`;
  // Each surface keeps its own error shape so clients parse injected failures like real ones.
  if (path === '/api' || path.startsWith('/api/')) return { Status: 'error', Message: message, Meta: null };
  return { errors: [message] };
}

/**
 * The emulator's node:http request handler, in front of Nest/Express. On every request: read the
 * raw body whatever the Content-Type (TIB sends JSON with no Content-Type at all), record the
 * request, then apply faults (latency, then failStatus, or with loseAnswer the route runs and its
 * answer is replaced by failStatus or a reset). The emulator's own control routes are
 * neither recorded nor faulted. Then `lean` may answer the request (the hot routes, see
 * lean-routes.ts); everything else goes to `express`, the Nest application's Express instance.
 */
export function requestFront(
  ctx: EmulatorContext,
  express: (req: IncomingMessage, res: ServerResponse) => void,
  lean: LeanRouter | null,
) {
  const dispatch = (req: FrontRequest, res: ServerResponse, path: string, query: string, body: JsonBody) => {
    if (res.destroyed) return;
    if (lean === null || !lean(req, res, path, query, body)) express(req, res);
  };

  const proceed = (req: FrontRequest, res: ServerResponse, path: string, query: string, text: string) => {
    let body: unknown = undefined;
    let jsonBody: JsonBody;
    if (text.trim() === '') {
      jsonBody = EMPTY;
    } else {
      try {
        body = JSON.parse(text) as unknown;
        jsonBody = { kind: 'json', value: body };
      } catch {
        body = text;
        jsonBody = MALFORMED;
      }
    }
    req.jsonBody = jsonBody;
    if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`)) {
      express(req, res);
      return;
    }
    if (ctx.maxRecordedRequests > 0) {
      record(ctx, { method: req.method ?? '', path, query, headers: headerRecord(req), body });
    }
    const faults = ctx.faults;
    if (faults && faultApplies(ctx, faults, req.method ?? '', path)) {
      const failOrDispatch = () => {
        const status = faults.failStatus;
        if (faults.loseAnswer) {
          loseAnswer(req, res, path, status);
          dispatch(req, res, path, query, jsonBody);
        } else if (!status) {
          dispatch(req, res, path, query, jsonBody);
        } else if (!res.destroyed && !res.headersSent) {
          sendJson(req, res, status, faultBody(path, status));
        }
      };
      if (faults.latencyMs && faults.latencyMs > 0) setTimeout(failOrDispatch, faults.latencyMs);
      else failOrDispatch();
      return;
    }
    dispatch(req, res, path, query, jsonBody);
  };

  return (req: FrontRequest, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q + 1);
    // Without Content-Length or Transfer-Encoding a request has no body (RFC 9112 §6.3).
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      proceed(req, res, path, query, '');
      return;
    }
    readBody(
      req,
      (raw) => {
        if (raw === null) {
          sendJson(req, res, 413, { errors: ['Request body too large'] });
          return;
        }
        proceed(req, res, path, query, raw.toString('utf8'));
      },
      (err) => {
        req[FRONT_ERROR] = err;
        express(req, res);
      },
    );
  };
}

/**
 * First Express middleware: a body that failed to read goes to Express's error handling, as it
 * did when the body reader was itself an Express middleware.
 */
export function rethrowFrontError(req: FrontRequest, _res: unknown, next: (err?: unknown) => void): void {
  const err = req[FRONT_ERROR];
  if (err !== undefined) next(err);
  else next();
}
