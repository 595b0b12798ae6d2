import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { EmulatorError, type EmulatorErrorKind } from './emulator.state.js';

/**
 * Dashboard `ApiResponse` errors, as the SSO API answers them (dashboard-swagger `/api/sso`):
 * `{"Status":"error","Message":"…","Meta":null}`.
 */
@Catch(EmulatorError)
export class DashboardErrorFilter implements ExceptionFilter {
  private static readonly STATUS: Record<EmulatorErrorKind, number> = {
    malformed: 400,
    invalid: 400,
    unauthorised: 401,
    refused: 403,
    'not-found': 404,
  };

  catch(error: EmulatorError, host: ArgumentsHost): void {
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(DashboardErrorFilter.STATUS[error.kind])
      .json({ Status: 'error', Message: error.message, Meta: null });
  }
}

/** Management API errors: `OnlyErrors` (`{"errors":["…"]}`), 400/401/404/422 as in the spec. */
@Catch(EmulatorError)
export class PortalApiErrorFilter implements ExceptionFilter {
  private static readonly STATUS: Record<EmulatorErrorKind, number> = {
    malformed: 400,
    unauthorised: 401,
    refused: 403,
    'not-found': 404,
    invalid: 422,
  };

  catch(error: EmulatorError, host: ArgumentsHost): void {
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(PortalApiErrorFilter.STATUS[error.kind])
      .json({ errors: [error.message] });
  }
}
