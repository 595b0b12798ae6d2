import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { scrubValues } from '@app/common';
import { secretValues, type BrokerConfig } from '@app/config';
import type { Params } from 'nestjs-pino';
import type { DestinationStream } from 'pino';

/** Query parameters that carry codes, tokens or one-time values; never logged. */
const SECRET_QUERY_PARAMS =
  /^(code|state|nonce|token|id_token|access_token|refresh_token|session_state|code_verifier)$/i;

export function redactUrl(url: string | undefined): string | undefined {
  if (!url || !url.includes('?')) return url;
  const [path, query] = url.split('?', 2) as [string, string];
  const params = new URLSearchParams(query);
  for (const key of [...params.keys()]) {
    if (SECRET_QUERY_PARAMS.test(key)) params.set(key, '[Redacted]');
  }
  return `${path}?${params.toString()}`;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Structured JSON logs (pino) with a request id, and redaction: authorization headers, cookies,
 * codes and tokens in URLs by path, and every configured secret value wherever it appears.
 */
export function loggerParams(config: BrokerConfig, stream?: DestinationStream): Params {
  const secrets = secretValues(config);
  return {
    pinoHttp: {
      level: config.logLevel,
      stream,
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
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
        // Redirects carry nonces, states and codes in their query: log the location redacted.
        res: (res: { statusCode: number; headers?: Record<string, unknown> }) => {
          const location = res.headers?.location;
          return {
            statusCode: res.statusCode,
            ...(typeof location === 'string' ? { location: redactUrl(location) } : {}),
          };
        },
      },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
      autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health') },
      hooks: { streamWrite: (line: string) => scrubValues(line, secrets) },
      quietReqLogger: true,
    },
  };
}
