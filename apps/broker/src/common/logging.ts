import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { scrubValues } from '@app/common';
import { secretValues, type BrokerConfig } from '@app/config';
import type { Params } from 'nestjs-pino';
import { pinoHttp } from 'pino-http';
import type { DestinationStream, Logger as PinoRoot } from 'pino';
import { brokerWorkerId, isBrokerWorker } from '../cluster/role.js';
import { isLoginPath } from './tib-paths.js';

/** Query parameters that carry codes, tokens or one-time values; never logged. */
const SECRET_QUERY_PARAMS =
  /^(code|state|nonce|token|id_token|access_token|refresh_token|session_state|code_verifier)$/i;

export function redactUrl(url: string | undefined): string | undefined {
  // A fragment never reaches a server; one in a logged URL can only be a token in transit.
  if (url?.includes('#')) url = url.slice(0, url.indexOf('#'));
  if (!url || !url.includes('?')) return url;
  const [path, query] = url.split('?', 2) as [string, string];
  const params = new URLSearchParams(query);
  for (const key of [...params.keys()]) {
    if (SECRET_QUERY_PARAMS.test(key)) params.set(key, '[Redacted]');
  }
  return `${path}?${params.toString()}`;
}

/**
 * A redirect target as it may be logged: scheme, host and path only. Its query and fragment carry
 * what the broker hands over (`?nonce=`, `#token=<Tyk key>`, the Gateway's `#access_token=`), so
 * neither is ever written, whatever the parameter is called.
 */
export function redirectTargetForLog(location: string): string {
  const end = location.search(/[?#]/);
  return end === -1 ? location : location.slice(0, end);
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The level of a request's completion line: 5xx error, 4xx warn, else info. */
function logLevelFor(status: number): 'error' | 'warn' | 'info' {
  return status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
}

/** The caller's X-Request-Id when it is a sane one, else a new UUID; echoed in the answer. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * The request log of the login routes, without pino-http: those two hops are every developer's way
 * in, and pino-http builds two child loggers per request and serialises the request into one of
 * them whether or not anything is logged (≈ 0.2 ms of CPU per login in the bench's profile,
 * issue 8). Sets `req.id` and X-Request-Id the same way as pino-http, and writes the same
 * completion line through the root logger (its serializers and redaction), only when its level
 * is enabled.
 */
export function loginRequestLogging(
  root: PinoRoot,
): (req: IncomingMessage & { id?: unknown }, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const id = requestId(req, res);
    req.id = id;
    const started = Date.now();
    const done = () => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      const status = res.statusCode;
      const level = logLevelFor(status);
      if (!root.isLevelEnabled(level)) return;
      const fields = { reqId: id, req, res, responseTime: Date.now() - started };
      if (status >= 500) {
        root.error({ ...fields, err: new Error(`failed with status code ${status}`) }, 'request errored');
      } else {
        root[level](fields, 'request completed');
      }
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}

type RequestLogger = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/**
 * Every request's log, mounted once in front of all routes: the login routes get
 * loginRequestLogging, the others pino-http (a child of the same root logger, so the same
 * serializers, redaction and stream), with `reqId` and X-Request-Id from `requestId`.
 *
 * nestjs-pino's own middleware is not mounted (`forRoutes: []` in loggerParams): it runs each
 * request inside an AsyncLocalStorage, so that `Logger` calls made during the request carry its
 * `reqId`. On Node 20 a single AsyncLocalStorage.run() turns on promise hooks for the whole
 * process, for good, and they cost about 3 % of the broker's CPU per login (issue 19, measured
 * with `perf`). So a line a library logs during a request does not carry the `reqId`; the
 * completion line does, and the lines of a failed request (AllExceptionsFilter, LoginFailures)
 * carry it as `requestId`.
 */
export function requestLogging(root: PinoRoot): RequestLogger {
  const login = loginRequestLogging(root);
  const http = pinoHttp({
    logger: root,
    // The root already wraps the serializers (it is pino-http's own logger, see loggerParams).
    wrapSerializers: false,
    genReqId: requestId,
    customLogLevel: (_req, res, err) => (err ? 'error' : logLevelFor(res.statusCode)),
    autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health') },
    quietReqLogger: true,
  });
  return (req, res, next) => (isLoginPath(req.url ?? '') ? login(req, res, next) : http(req, res, next));
}

/**
 * The pino hook that replaces every configured secret value in each written line, wherever it
 * appears (a message, an error, a URL). The one definition for the workers' logger (loggerParams)
 * and the cluster primary's (primaryLogger).
 */
export function secretMaskingHooks(config: BrokerConfig): { streamWrite: (line: string) => string } {
  const secrets = secretValues(config);
  return { streamWrite: (line: string) => scrubValues(line, secrets) };
}

/**
 * Structured JSON logs (pino) with a request id, and redaction: authorization headers, cookies,
 * codes and tokens in URLs by path, and every configured secret value wherever it appears.
 */
export function loggerParams(config: BrokerConfig, stream?: DestinationStream): Params {
  return {
    // Not mounted (no AsyncLocalStorage per request): requestLogging logs every request.
    forRoutes: [],
    pinoHttp: {
      level: config.logLevel,
      // Under BROKER_WORKERS > 1 every line says which worker wrote it (pino's pid stays too).
      ...(isBrokerWorker() ? { base: { pid: process.pid, hostname: hostname(), worker: brokerWorkerId() } } : {}),
      stream,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["admin-auth"]',
          'req.headers["x-tyk-authorization"]',
          'res.headers["set-cookie"]',
          'req.query.code',
          'req.query.state',
          'req.body',
          '*.password',
          '*.secret',
          '*.Secret',
          '*.token',
          '*.access_token',
          '*.id_token',
          '*.client_secret',
        ],
        censor: '[Redacted]',
      },
      serializers: {
        req: (req: {
          id: string;
          method: string;
          url: string;
          headers: Record<string, unknown>;
          remoteAddress?: string;
        }) => ({
          id: req.id,
          method: req.method,
          url: redactUrl(req.url),
          headers: { ...req.headers },
          remoteAddress: req.remoteAddress,
        }),
        // Redirects carry nonces, states, codes and tokens: log where they go, not what they carry.
        res: (res: { statusCode: number; headers?: Record<string, unknown> }) => {
          const location = res.headers?.location;
          return {
            statusCode: res.statusCode,
            ...(typeof location === 'string' ? { location: redirectTargetForLog(location) } : {}),
          };
        },
      },
      hooks: secretMaskingHooks(config),
    },
  };
}
