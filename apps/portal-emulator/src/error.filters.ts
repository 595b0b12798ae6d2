import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { EmulatorError, type EmulatorErrorKind } from './emulator.state.js';

/** HTTP status of each EmulatorError kind on the Dashboard surface (`/api`). */
export const DASHBOARD_STATUS: Readonly<Record<EmulatorErrorKind, number>> = {
  malformed: 400,
  invalid: 400,
  unauthorised: 401,
  refused: 403,
  'not-found': 404,
};

/** HTTP status of each EmulatorError kind on the Management API (`/portal-api`). */
export const PORTAL_API_STATUS: Readonly<Record<EmulatorErrorKind, number>> = {
  malformed: 400,
  unauthorised: 401,
  refused: 403,
  'not-found': 404,
  invalid: 422,
};

/** The Dashboard error body. */
export const dashboardError = (message: string) => ({ Status: 'error', Message: message, Meta: null });
/** The Management API error body (`OnlyErrors`). */
export const portalApiError = (message: string) => ({ errors: [message] });

/**
 * Dashboard `ApiResponse` errors, as the SSO API answers them (dashboard-swagger `/api/sso`):
 * `{"Status":"error","Message":"…","Meta":null}`.
 */
@Catch(EmulatorError)
export class DashboardErrorFilter implements ExceptionFilter {
  catch(error: EmulatorError, host: ArgumentsHost): void {
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(DASHBOARD_STATUS[error.kind])
      .json(dashboardError(error.message));
  }
}

/** Management API errors: `OnlyErrors` (`{"errors":["…"]}`), 400/401/404/422 as in the spec. */
@Catch(EmulatorError)
export class PortalApiErrorFilter implements ExceptionFilter {
  catch(error: EmulatorError, host: ArgumentsHost): void {
    host
      .switchToHttp()
      .getResponse<Response>()
      .status(PORTAL_API_STATUS[error.kind])
      .json(portalApiError(error.message));
  }
}
