import { isDomainError, loggableError } from '@app/common';
import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { QueryFailedError } from 'typeorm';

export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

/** RFC 7644 §3.12 scimType values the broker uses. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue';

/** A SCIM protocol error: becomes `{ schemas: [Error], status, scimType, detail }`. */
export class ScimError extends Error {
  constructor(
    readonly status: number,
    readonly scimType: ScimType | null,
    detail: string,
  ) {
    super(detail);
    this.name = 'ScimError';
  }
}

export const invalidValue = (detail: string) => new ScimError(400, 'invalidValue', detail);

export function scimErrorBody(status: number, scimType: ScimType | null, detail: string) {
  return {
    schemas: [SCIM_ERROR_SCHEMA],
    status: String(status),
    ...(scimType ? { scimType } : {}),
    detail,
  };
}

/** Domain codes the SCIM routes can meet, as SCIM statuses. */
const DOMAIN_STATUS: Record<string, number> = {
  not_found: 404,
  validation_failed: 400,
  rate_limited: 429,
  unauthorized: 401,
};

/** What the unique indexes of `scim_users` protect, as a SCIM `uniqueness` detail. */
const UNIQUE_DETAIL: Record<string, string> = {
  UQ_scim_users_user_name: 'A user with this userName exists',
  UQ_scim_users_developer: 'The developer this user matches is provisioned by another SCIM user',
};

/**
 * A statement Postgres refused because of the request's values: a unique index (23505) that a
 * concurrent request won (the service checks first, but check-then-insert is not atomic, and IdPs
 * retry creates), or a value it cannot hold (class 22, "data exception"). Null for anything else.
 */
function clientFault(error: unknown): ScimError | null {
  if (!(error instanceof QueryFailedError)) return null;
  const driver = error.driverError as { code?: unknown; constraint?: unknown } | null;
  const code = typeof driver?.code === 'string' ? driver.code : '';
  if (code === '23505') {
    const constraint = typeof driver?.constraint === 'string' ? driver.constraint : '';
    return new ScimError(409, 'uniqueness', UNIQUE_DETAIL[constraint] ?? 'The user conflicts with an existing one');
  }
  if (/^22[0-9A-Z]{3}$/.test(code)) {
    return new ScimError(400, 'invalidValue', 'A value in the request cannot be stored');
  }
  return null;
}

/**
 * Every failure on `/scim/v2` in the SCIM error schema (RFC 7644 §3.12): client mistakes as 4xx
 * with a scimType, never a 5xx; anything unexpected as a 500 without internals.
 */
@Catch()
export class ScimExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Scim');

  catch(error: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    let status = 500;
    let scimType: ScimType | null = null;
    let detail = 'Internal error';
    const refused = clientFault(error);
    if (refused) {
      // Never the error itself: a failed query carries its parameters (issue 13).
      this.logger.warn({ error: loggableError(error) }, 'Postgres refused a SCIM request');
    }
    const known = refused ?? error;
    if (known instanceof ScimError) {
      ({ status, scimType } = known);
      detail = known.message;
    } else if (isDomainError(error) && DOMAIN_STATUS[error.code]) {
      status = DOMAIN_STATUS[error.code];
      scimType = status === 400 ? 'invalidValue' : null;
      detail = error.message;
    } else if (error instanceof HttpException) {
      status = error.getStatus();
      scimType = status === 400 ? 'invalidSyntax' : null;
      detail = error.message;
    } else {
      this.logger.error({ error: loggableError(error) }, 'SCIM request failed');
    }
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="scim"');
    res
      .status(status)
      .type(SCIM_CONTENT_TYPE)
      .send(JSON.stringify(scimErrorBody(status, scimType, detail)));
  }
}
