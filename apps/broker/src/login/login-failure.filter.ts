import { requestContextOf } from '@app/common';
import { Catch, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { LoginFailedException, LoginFailures } from './login-failures.service.js';
import { sendLoginOutcome } from './login-outcome.js';

/**
 * Renders a LoginFailedException on the login routes (see LoginFailures). Every other error,
 * such as an unknown profile (404) or too many requests (429), goes to the global filter.
 */
@Catch(LoginFailedException)
export class LoginFailureFilter implements ExceptionFilter<LoginFailedException> {
  private readonly logger = new Logger(LoginFailureFilter.name);

  constructor(private readonly failures: LoginFailures) {}

  async catch(failure: LoginFailedException, host: ArgumentsHost): Promise<void> {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    try {
      sendLoginOutcome(res, await this.failures.render(failure, requestContextOf(req)));
    } catch (error: unknown) {
      this.logger.error({ reason: (error as Error).message }, 'could not render a login failure');
      if (!res.headersSent) res.status(500).type('text').send('');
    }
  }
}
