import { Controller, Get, HttpCode, Inject, Param, Post, Put, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { Response } from 'express';
import { ApiSecretGuard } from './auth.guards.js';
import { EMULATOR_CONTEXT, type EmulatorContext } from './emulator.context.js';
import { DashboardErrorFilter } from './error.filters.js';
import { decodeBody, JsonBodyParam } from './json-body.decorator.js';
import type { JsonBody } from './request-pipeline.js';
import { DASHBOARD_MALFORMED as MALFORMED, nonceCreated, PORTAL_DEVELOPER, SSO_REQUEST } from './schemas.js';
import { developerJson } from './views.js';

/**
 * The Dashboard-compatible SSO API the portal serves at the root `/api` (EDP-ENDPOINTS), which TIB
 * (or the broker playing TIB) calls with `Authorization: <PORTAL_API_SECRET>`. `/admin/sso` is not
 * documented for the EDP and is deliberately absent.
 */
@Controller('api')
@UseGuards(ApiSecretGuard)
@UseFilters(DashboardErrorFilter)
export class SsoApiController {
  constructor(@Inject(EMULATOR_CONTEXT) private readonly ctx: EmulatorContext) {}

  @Post('sso')
  @HttpCode(200)
  createNonce(@JsonBodyParam() body: JsonBody) {
    const nonce = this.ctx.state.createNonce(decodeBody(body, SSO_REQUEST, MALFORMED));
    return nonceCreated(nonce.value);
  }

  @Get('portal/developers/ssokey/:key')
  findBySsoKey(@Param('key') key: string) {
    const { user, developer } = this.ctx.state.developerBySsoKey(key);
    return developerJson(user, developer);
  }

  /** 201 when the account was created, 200 when an existing one was matched (and linked). */
  @Post('portal/developers')
  createDeveloper(@JsonBodyParam() body: JsonBody, @Res({ passthrough: true }) res: Response) {
    const { user, developer, created } = this.ctx.state.createDeveloper(decodeBody(body, PORTAL_DEVELOPER, MALFORMED));
    res.status(created ? 201 : 200);
    return developerJson(user, developer);
  }

  @Put('portal/developers/:id')
  updateDeveloper(@Param('id') id: string, @JsonBodyParam() body: JsonBody) {
    const { user, developer } = this.ctx.state.updateDeveloper(id, decodeBody(body, PORTAL_DEVELOPER, MALFORMED));
    return developerJson(user, developer);
  }
}
