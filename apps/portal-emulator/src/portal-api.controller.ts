import {
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Put,
  Query,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { AdminTokenGuard } from './auth.guards.js';
import { EMULATOR_CONTEXT, type EmulatorContext } from './emulator.context.js';
import { PortalApiErrorFilter } from './error.filters.js';
import { decodeBody, JsonBodyParam } from './json-body.decorator.js';
import type { JsonBody } from './request-pipeline.js';
import {
  idOf,
  ORGANISATION,
  PORTAL_API_MALFORMED as MALFORMED,
  TEAM_UPDATE,
  USER_CREATE,
  USER_UPDATE,
} from './schemas.js';
import { orgIndexElem, orgShow, paginate, teamIndexElem, teamShow, userIndexElem, userShow } from './views.js';

const OK = { status: 'ok' };

type QueryParams = Record<string, unknown>;

/** The Management API (`/portal-api`, EDP OpenAPI v1.14.0): users, organisations and their teams. */
@Controller('portal-api')
@UseGuards(AdminTokenGuard)
@UseFilters(PortalApiErrorFilter)
export class PortalApiController {
  constructor(@Inject(EMULATOR_CONTEXT) private readonly ctx: EmulatorContext) {}

  private get state() {
    return this.ctx.state;
  }

  // ------------------------------------------------------------------ users

  @Get('users')
  listUsers(@Query() query: QueryParams) {
    return paginate(this.state.users.values(), query, this.state.contract).map(userIndexElem);
  }

  @Post('users')
  @HttpCode(200)
  createUser(@JsonBodyParam() body: JsonBody) {
    return userShow(this.state, this.state.createUser(decodeBody(body, USER_CREATE, MALFORMED)));
  }

  @Get('users/:id')
  getUser(@Param('id') id: string) {
    return userShow(this.state, this.state.getUser(idOf(id, 'not-found', 'User')));
  }

  @Put('users/:id')
  updateUser(@Param('id') id: string, @JsonBodyParam() body: JsonBody) {
    const userId = idOf(id, 'invalid', 'User');
    return userShow(this.state, this.state.updateUser(userId, decodeBody(body, USER_UPDATE, MALFORMED)));
  }

  /** `?force=true` only matters when an external IdP fails to revoke credentials; there is none here. */
  @Delete('users/:id')
  deleteUser(@Param('id') id: string) {
    this.state.deleteUser(idOf(id, 'not-found', 'User'));
    return OK;
  }

  // ------------------------------------------------------------------ organisations

  @Get('organisations')
  listOrgs(@Query() query: QueryParams) {
    return paginate(this.state.orgs.values(), query, this.state.contract).map(orgIndexElem);
  }

  @Post('organisations')
  @HttpCode(200)
  createOrg(@JsonBodyParam() body: JsonBody) {
    return orgShow(this.state, this.state.createOrg(decodeBody(body, ORGANISATION, MALFORMED).Name));
  }

  @Get('organisations/:org')
  getOrg(@Param('org') org: string) {
    return orgShow(this.state, this.state.getOrg(idOf(org, 'not-found', 'Organisation')));
  }

  @Put('organisations/:org')
  renameOrg(@Param('org') org: string, @JsonBodyParam() body: JsonBody) {
    const orgId = idOf(org, 'not-found', 'Organisation');
    return orgShow(this.state, this.state.renameOrg(orgId, decodeBody(body, ORGANISATION, MALFORMED).Name));
  }

  @Delete('organisations/:org')
  deleteOrg(@Param('org') org: string) {
    this.state.deleteOrg(idOf(org, 'not-found', 'Organisation'));
    return OK;
  }

  // ------------------------------------------------------------------ teams

  @Get('organisations/:org/teams')
  listTeams(@Param('org') org: string, @Query() query: QueryParams) {
    const orgId = this.state.getOrg(idOf(org, 'not-found', 'Organisation')).ID;
    return paginate(this.state.teamsOf(orgId), query, this.state.contract).map(teamIndexElem);
  }

  @Post('organisations/:org/teams')
  @HttpCode(200)
  createTeam(@Param('org') org: string, @JsonBodyParam() body: JsonBody) {
    const orgId = idOf(org, 'not-found', 'Organisation');
    return teamShow(this.state, this.state.createTeam(orgId, decodeBody(body, ORGANISATION, MALFORMED).Name));
  }

  @Get('organisations/:org/teams/:team')
  getTeam(@Param('org') org: string, @Param('team') team: string) {
    return teamShow(
      this.state,
      this.state.getTeam(idOf(org, 'not-found', 'Organisation'), idOf(team, 'not-found', 'Team')),
    );
  }

  @Put('organisations/:org/teams/:team')
  updateTeam(@Param('org') org: string, @Param('team') team: string, @JsonBodyParam() body: JsonBody) {
    const orgId = idOf(org, 'not-found', 'Organisation');
    const teamId = idOf(team, 'not-found', 'Team');
    return teamShow(this.state, this.state.updateTeam(orgId, teamId, decodeBody(body, TEAM_UPDATE, MALFORMED)));
  }

  @Delete('organisations/:org/teams/:team')
  deleteTeam(@Param('org') org: string, @Param('team') team: string) {
    this.state.deleteTeam(idOf(org, 'not-found', 'Organisation'), idOf(team, 'not-found', 'Team'));
    return OK;
  }
}
