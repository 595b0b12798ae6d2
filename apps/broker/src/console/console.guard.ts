import { DomainError, type AdminRole } from '@app/common';
import {
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  Injectable,
  SetMetadata,
  type ArgumentsHost,
  type ExceptionFilter,
  Catch,
  Logger,
  HttpException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { isDomainError, loggableError } from '@app/common';
import { isDataException, isDatabaseOutage } from '../common/all-exceptions.filter.js';
import { statusForCode } from '../common/error-status.js';
import { publicMessage } from '../common/public-messages.js';
import { ConsoleSessionService, type ConsoleSession } from './console-session.service.js';
import { CONSOLE_CSP, messagePage } from './views/layout.js';

const CONSOLE_ROLES = 'console:roles';
const CONSOLE_PUBLIC = 'console:public';

/** Routes only these roles may use (the server refuses others with 403, whatever the page shows). */
export const ConsoleRoles = (...roles: AdminRole[]) => SetMetadata(CONSOLE_ROLES, roles);
/** Sign-in, callback and the stylesheet: no session needed. */
export const ConsolePublic = () => SetMetadata(CONSOLE_PUBLIC, true);

type ConsoleRequest = Request & { consoleSession?: ConsoleSession };

/** The signed-in staff member (set by ConsoleGuard). */
export const StaffSession = createParamDecorator(
  (_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<ConsoleRequest>().consoleSession,
);

/** A page was asked for without a session: the filter sends the browser to sign in. */
export class SignInRequired extends Error {}

/**
 * Every console route: the strict CSP and no caching; a live session (else sign-in for pages, 401
 * for writes); on every write the session's CSRF token (`_csrf`), then the route's roles.
 */
@Injectable()
export class ConsoleGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: ConsoleSessionService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ConsoleRequest>();
    const res = context.switchToHttp().getResponse<Response>();
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Cache-Control', 'no-store');
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(CONSOLE_PUBLIC, targets)) return true;
    if (!this.sessions.enabled) throw new DomainError('not_found', 'The security console is not configured');
    const session = await this.sessions.resolve(req);
    if (!session) {
      if (req.method === 'GET') throw new SignInRequired();
      throw new DomainError('unauthorized', 'Your console session has ended; sign in again');
    }
    req.consoleSession = session;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.sessions.checkCsrf(session, (req.body as Record<string, unknown> | undefined)?._csrf);
    }
    const roles = this.reflector.getAllAndOverride<AdminRole[] | undefined>(CONSOLE_ROLES, targets);
    if (roles && !roles.some((r) => session.roles.includes(r))) {
      throw new DomainError('forbidden', `This needs the role ${roles.join(' or ')}`);
    }
    return true;
  }
}

/** Console errors as HTML pages with the code's status; a missing session becomes a sign-in redirect. */
@Catch()
export class ConsoleExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger(ConsoleExceptionFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const req = host.switchToHttp().getRequest<Request>();
    const res = host.switchToHttp().getResponse<Response>();
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Cache-Control', 'no-store');
    if (exception instanceof SignInRequired) {
      res.redirect(302, `/console/sign-in?return_to=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    let status = 500;
    let message = 'Something went wrong; the error is in the broker’s log.';
    if (isDomainError(exception)) {
      status = statusForCode(exception.code);
      // A 5xx's own message is internal (a setting, an upstream URL): the log has it, as on the API.
      message = status >= 500 ? publicMessage(exception.code) : exception.message;
      if (status >= 500) {
        this.logger.warn({ code: exception.code, error: loggableError(exception) }, 'console page failed upstream');
      }
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      message = status === 404 ? 'There is no such page.' : exception.message;
    } else if (isDataException(exception)) {
      // A value Postgres refused that validation let through: the request's fault, as on the API.
      status = 400;
      message = 'A value in the request cannot be used; check the filters.';
    } else if (isDatabaseOutage(exception)) {
      // Down, unreachable or too slow (pg's query timeout): try again, as the API's 503 says.
      status = 503;
      message = 'The database is unavailable; try again shortly.';
      this.logger.warn({ error: loggableError(exception) }, 'console page failed: database unavailable');
    } else {
      // Never the exception itself: a failed query carries its SQL and parameters (a searched
      // email, a session's state and PKCE verifier).
      this.logger.error({ error: loggableError(exception) }, 'console page failed');
    }
    res
      .status(status)
      .type('html')
      .send(
        messagePage(status === 401 ? 'Signed out' : `Error ${status}`, message, {
          href: '/console',
          label: 'Back to the console',
        }),
      );
  }
}
