import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { EMULATOR_CONTEXT, type EmulatorContext } from './emulator.context.js';
import { EmulatorError } from './emulator.state.js';

/** The raw `Authorization` value must equal the secret exactly: no `Bearer` prefix, as the portal expects. */
export function authorised(req: Pick<Request, 'headers'>, secret: string): boolean {
  return req.headers.authorization === secret;
}

/** What each surface says when the credential is wrong (an `unauthorised` EmulatorError). */
export const API_SECRET_REFUSED = 'Not authorised';
export const ADMIN_TOKEN_REFUSED = 'Invalid or missing API token';

/** Dashboard-compatible SSO API: `Authorization: <PORTAL_API_SECRET>`. */
@Injectable()
export class ApiSecretGuard implements CanActivate {
  constructor(@Inject(EMULATOR_CONTEXT) private readonly ctx: EmulatorContext) {}

  canActivate(context: ExecutionContext): boolean {
    if (!authorised(context.switchToHttp().getRequest<Request>(), this.ctx.apiSecret)) {
      throw new EmulatorError('unauthorised', API_SECRET_REFUSED);
    }
    return true;
  }
}

/** Management API (`/portal-api`) and the emulator's control routes: `Authorization: <admin API token>`. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(@Inject(EMULATOR_CONTEXT) private readonly ctx: EmulatorContext) {}

  canActivate(context: ExecutionContext): boolean {
    if (!authorised(context.switchToHttp().getRequest<Request>(), this.ctx.adminToken)) {
      throw new EmulatorError('unauthorised', ADMIN_TOKEN_REFUSED);
    }
    return true;
  }
}
