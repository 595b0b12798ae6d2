import { clipText, isDomainError, loggableError, type ErrorCode } from '@app/common';
import { goJsonStringify } from '@app/tyk-portal';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { QueryFailedError } from 'typeorm';
import { statusForCode } from './error-status.js';
import { publicMessage } from './public-messages.js';
import { isLoginPath, isProfilesPath } from './tib-paths.js';

/**
 * Errors that keep TIB's `{"Status":"error","Error":…}` envelope, byte for byte: every one of the
 * profiles API, and on the login routes the unknown profile (TIB answers `Profile <id> not found`
 * on the callback) or provider (400, `no provider for <name> exists`). The broker's own login-route errors (429, 503) keep its shape.
 */
export function usesTibEnvelope(path: string, code: ErrorCode): boolean {
  if (isProfilesPath(path)) return true;
  return isLoginPath(path) && (code === 'profile_not_found' || code === 'provider_not_found' || code === 'not_found');
}

interface ErrorShape {
  status: number;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

/** Errors thrown by Postgres/pg when the database is down or unreachable: 503, not 500. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | null;
  if (!e) return false;
  if (['ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '57P03', '08006', '08001', '08003'].includes(e.code ?? '')) {
    return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connect ECONNREFUSED/i.test(
    e.message ?? '',
  );
}

/** A database outage however it arrives: from pg itself, or wrapped by TypeORM in a QueryFailedError. */
export function isDatabaseOutage(exception: unknown): boolean {
  return (
    isDatabaseUnavailable(exception) ||
    (exception instanceof QueryFailedError && isDatabaseUnavailable(exception.driverError))
  );
}

function describe(exception: unknown): ErrorShape {
  if (isDomainError(exception)) {
    const status: number = statusForCode(exception.code);
    // A 5xx is never the client's input: its message (a setting, an upstream URL, a socket error)
    // goes to the log, the client gets the code's sentence and the request id (issue 13).
    return status >= 500
      ? { status, code: exception.code, message: publicMessage(exception.code) }
      : { status, code: exception.code, message: exception.message, details: exception.details };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const body = exception.getResponse();
    let message = exception.message;
    let details: Record<string, unknown> | undefined;
    if (typeof body === 'object' && body !== null) {
      const m = (body as { message?: unknown }).message;
      if (Array.isArray(m)) {
        message = m.map(String).join('; ');
      } else if (typeof m === 'string') {
        message = m;
      }
      const info = (body as { info?: unknown; error?: unknown; details?: unknown }).details;
      if (info && typeof info === 'object') {
        details = { checks: info };
      }
    }
    return {
      status,
      code: CODE_FOR_STATUS[status] ?? (status >= 500 ? 'unavailable' : 'bad_request'),
      message,
      details,
    };
  }
  // body-parser errors (bad JSON, too large, bad charset) carry `status` and `type`.
  const bp = exception as { status?: number; type?: string; expose?: boolean } | null;
  if (bp && typeof bp.status === 'number' && bp.status >= 400 && bp.status < 500 && typeof bp.type === 'string') {
    const messages: Record<string, string> = {
      'entity.parse.failed': 'Failed to decode body data',
      'entity.too.large': 'Request body too large',
      'encoding.unsupported': 'Unsupported content encoding',
      'charset.unsupported': 'Unsupported charset',
    };
    return {
      status: bp.status,
      code: CODE_FOR_STATUS[bp.status] ?? 'bad_request',
      message: messages[bp.type] ?? 'Invalid request data',
    };
  }
  if (isDatabaseOutage(exception)) {
    return {
      status: HttpStatus.SERVICE_UNAVAILABLE,
      code: 'unavailable',
      message: 'The database is unavailable; try again shortly',
    };
  }
  if (isDataException(exception)) {
    // A value Postgres refused (class 22, e.g. 22P05 a NUL in jsonb, 22007 a bad time) that
    // validation let through: still the client's input, so 400, with nothing of the value in the
    // answer or the log.
    return { status: HttpStatus.BAD_REQUEST, code: 'bad_request', message: 'A value in the request cannot be stored' };
  }
  return { status: HttpStatus.INTERNAL_SERVER_ERROR, code: 'unavailable', message: 'Internal server error' };
}

/**
 * SQLSTATE class 22, "data exception": the value, not the server, is at fault. TypeORM wraps the
 * error of a query (QueryFailedError, the SQLSTATE on its driverError); a statement run on the pg
 * client itself (the export's COPY) throws pg's DatabaseError with the SQLSTATE as its own code.
 */
export function isDataException(error: unknown): boolean {
  const sqlState = (e: unknown) => {
    const code = (e as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
  };
  return error instanceof QueryFailedError ? sqlState(error.driverError) : sqlState(error);
}

/**
 * The one global filter: domain codes → HTTP, body-parser errors → 4xx, a database outage → 503,
 * anything else → a generic 500 that is logged with its stack. Bad input never becomes a 500.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger(AllExceptionsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const req = ctx.getRequest<Request & { id?: string }>();
    const res = ctx.getResponse<Response>();
    const shape = describe(exception);
    const status: number = shape.status;
    const requestId = String(req.id ?? '');
    if (isDomainError(exception) && status >= 500) {
      this.logger.warn(
        { requestId, code: exception.code, detail: clipText(exception.message, 500) },
        'Request failed upstream or by configuration',
      );
    } else if (status >= 500 && status !== 503) {
      // Never the exception itself: a failed query carries its parameters (issue 13).
      this.logger.error({ error: loggableError(exception), requestId }, 'Unhandled error');
    } else if (shape.code === 'bad_request' && isDataException(exception)) {
      this.logger.warn(
        { error: loggableError(exception), requestId },
        'Postgres refused a value validation let through',
      );
    } else if (status === 503) {
      this.logger.warn({ requestId, code: shape.code, error: loggableError(exception) }, 'Service unavailable');
    }
    if (res.headersSent) {
      return;
    }
    if (status === 429 && !res.getHeader('Retry-After')) {
      res.setHeader('Retry-After', '60');
    }
    // Express routes paths in any case (/API/PROFILES reaches the profiles API): so does the envelope.
    if (usesTibEnvelope(req.path.toLowerCase(), shape.code)) {
      // TIB writes it with Go's json.Marshal (error/error.go HandleError): `<`, `>`, `&`, U+2028
      // and U+2029 escaped, no trailing newline; a message may carry a path segment.
      res
        .status(shape.status)
        .type('application/json')
        .send(goJsonStringify({ Status: 'error', Error: shape.message }));
      return;
    }
    res.status(shape.status).json({
      error: {
        code: shape.code,
        message: shape.message,
        requestId,
        ...(shape.details ? { details: shape.details } : {}),
      },
    });
  }
}
