import {
  actorOf,
  AdminRoles,
  ApiErrors,
  DomainError,
  ErrorResponseDto,
  nextPageLink,
  requestContextOf,
  type AdminPrincipal,
} from '@app/common';
import { serverConfig, type ServerConfig } from '@app/config';
import { AuditEventPageDto, type AuditEventPage } from '@app/audit';
import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  Inject,
  Param,
  ParseUUIDPipe,
  Patch,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { toDeveloperResponse, type ChangeContext, type DeveloperResponse, type PortalSyncState } from './developer.js';
import { DevelopersService } from './developers.service.js';
import { DeveloperPageDto, DeveloperResponseDto } from './dto/developer-response.dto.js';
import { ListDevelopersQueryDto, LoginHistoryQueryDto, UpdateDeveloperDto } from './dto/developers.dto.js';

const developerIdPipe = new ParseUUIDPipe({
  exceptionFactory: () =>
    new DomainError('validation_failed', 'id: expected a developer id (uuid)', { parameter: 'id' }),
});

type AdminRequest = Request & { id?: unknown };

/** The acting admin (set by the broker's admin guard) as an audit actor (actorOf). */
function actorOfRequest(req: AdminRequest): string {
  const principal = req.user as AdminPrincipal | undefined;
  if (!principal?.id) throw new DomainError('unauthorized', 'Authorization failed');
  return actorOf(principal);
}

function contextOf(req: AdminRequest): ChangeContext {
  return requestContextOf(req);
}

@ApiTags('developers')
@ApiBearerAuth('admin-token')
@ApiSecurity('tib-secret')
@ApiBadRequestResponse({
  type: ErrorResponseDto,
  description: '`validation_failed`: the message names the bad parameter; `cursor_invalid`.',
})
@ApiErrors({ 401: ['unauthorized'], 403: ['forbidden'], 429: ['rate_limited'], 503: ['admin_disabled', 'unavailable'] })
@AdminRoles('admin', 'auditor')
@Controller('api/developers')
export class DevelopersController {
  constructor(
    private readonly developers: DevelopersService,
    @Inject(serverConfig.KEY) private readonly config: ServerConfig,
  ) {}

  @Get()
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'List developers',
    description: 'Newest first; keyset pages (`next_cursor`, `Link: rel="next"`).',
  })
  @ApiOkResponse({ type: DeveloperPageDto, description: 'One page of developers, newest first.' })
  async list(
    @Query() query: ListDevelopersQueryDto,
    @Req() req: AdminRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<{ data: DeveloperResponse[]; next_cursor: string | null }> {
    const page = await this.developers.list(query);
    if (page.next_cursor) res.setHeader('Link', nextPageLink(req.originalUrl, this.config.publicUrl, page.next_cursor));
    return { data: page.data.map(toDeveloperResponse), next_cursor: page.next_cursor };
  }

  @Get(':id')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Get a developer',
    description:
      '`portal_sync` (null until a block, unblock or erase): `pending|done|failed`, the action and the last error of carrying it to the portal.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: '`not_found`' })
  @ApiOkResponse({ type: DeveloperResponseDto })
  async get(
    @Param('id', developerIdPipe) id: string,
  ): Promise<DeveloperResponse & { portal_sync: PortalSyncState | null }> {
    const developer = toDeveloperResponse(await this.developers.get(id));
    return { ...developer, portal_sync: await this.developers.portalSync(id) };
  }

  @Get(':id/logins')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: "A developer's login history",
    description: 'Their `login.*` events from the audit log, newest first.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: '`not_found`' })
  @ApiOkResponse({ type: AuditEventPageDto, description: "One page of the developer's `login.*` events." })
  async logins(
    @Param('id', developerIdPipe) id: string,
    @Query() query: LoginHistoryQueryDto,
    @Req() req: AdminRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AuditEventPage> {
    const page = await this.developers.loginHistory(id, query.cursor, query.limit);
    if (page.next_cursor) res.setHeader('Link', nextPageLink(req.originalUrl, this.config.publicUrl, page.next_cursor));
    return page;
  }

  @Patch(':id')
  @AdminRoles('admin')
  @ApiOperation({
    summary: 'Block or unblock a developer',
    description: 'A blocked developer cannot sign in (`developer_blocked`).',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: '`not_found`' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: '`forbidden`: needs the admin role.' })
  @ApiOkResponse({ type: DeveloperResponseDto })
  async update(
    @Param('id', developerIdPipe) id: string,
    @Body() body: UpdateDeveloperDto,
    @Req() req: AdminRequest,
  ): Promise<DeveloperResponse> {
    const actor = actorOfRequest(req);
    const developer =
      body.status === 'blocked'
        ? await this.developers.block(id, actor, contextOf(req))
        : await this.developers.unblock(id, actor, contextOf(req));
    return toDeveloperResponse(developer);
  }

  @Delete(':id')
  @AdminRoles('admin')
  @ApiOperation({
    summary: "Erase a developer's personal data",
    description: 'Removes email, name and claims; the id stays, so the audit log keeps only a pseudonym.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: '`not_found`' })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: '`forbidden`: needs the admin role.' })
  @ApiOkResponse({ type: DeveloperResponseDto })
  async erase(@Param('id', developerIdPipe) id: string, @Req() req: AdminRequest): Promise<DeveloperResponse> {
    return toDeveloperResponse(await this.developers.erase(id, actorOfRequest(req), contextOf(req)));
  }
}
