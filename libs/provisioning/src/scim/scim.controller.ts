import { serverConfig, type ServerConfig } from '@app/config';
import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
  Query,
  Req,
  Res,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import type { Response } from 'express';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ScimAuthGuard, type ScimRequest } from './scim-auth.guard.js';
import { serviceProviderConfig, userResourceType, userSchema } from './scim-discovery.js';
import { SCIM_CONTENT_TYPE, ScimError, ScimExceptionFilter } from './scim-error.js';
import { LIST_SCHEMA, USER_SCHEMA } from './scim-user.mapper.js';
import { ScimUsersService, type ScimCaller } from './scim-users.service.js';

const ERRORS = 'Errors use the SCIM error schema (`urn:ietf:params:scim:api:messages:2.0:Error`) with `scimType`.';

/**
 * SCIM 2.0 service provider (RFC 7643/7644) for Cloudentity, Entra ID and Okta provisioning.
 * Bearer tokens from BROKER_SCIM_TOKENS; answers `application/scim+json`.
 */
@ApiTags('scim')
@ApiBearerAuth('scim-token')
@ApiResponse({ status: 401, description: `No or a wrong SCIM token. ${ERRORS}` })
@ApiResponse({ status: 429, description: 'Too many failed authentications from this client.' })
@UseFilters(ScimExceptionFilter)
@UseGuards(ScimAuthGuard)
@Controller('scim/v2')
export class ScimController {
  constructor(
    private readonly users: ScimUsersService,
    @Inject(serverConfig.KEY) private readonly config: ServerConfig,
  ) {}

  private caller(req: ScimRequest): ScimCaller {
    return {
      label: req.scimLabel ?? 'unknown',
      ip: req.ip ?? null,
      userAgent: req.get('user-agent') ?? null,
      requestId: typeof req.id === 'string' ? req.id : null,
      baseUrl: this.config.publicUrl,
    };
  }

  @Get('ServiceProviderConfig')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({ summary: 'SCIM ServiceProviderConfig (RFC 7643 §5)' })
  spConfig() {
    return serviceProviderConfig(this.config.publicUrl);
  }

  @Get('ResourceTypes')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({ summary: 'SCIM ResourceTypes: User' })
  resourceTypes() {
    const resources = [userResourceType(this.config.publicUrl)];
    return { schemas: [LIST_SCHEMA], totalResults: 1, startIndex: 1, itemsPerPage: 1, Resources: resources };
  }

  @Get('ResourceTypes/:id')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({ summary: 'One SCIM ResourceType' })
  resourceType(@Param('id') id: string) {
    if (id !== 'User') throw new ScimError(404, null, 'Only the User resource type exists');
    return userResourceType(this.config.publicUrl);
  }

  @Get('Schemas')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({ summary: 'SCIM Schemas: the User schema as the broker keeps it' })
  schemas() {
    const resources = [userSchema(this.config.publicUrl)];
    return { schemas: [LIST_SCHEMA], totalResults: 1, startIndex: 1, itemsPerPage: 1, Resources: resources };
  }

  @Get('Schemas/:id')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({ summary: 'One SCIM Schema' })
  schema(@Param('id') id: string) {
    if (id !== USER_SCHEMA) throw new ScimError(404, null, `Only ${USER_SCHEMA} is served`);
    return userSchema(this.config.publicUrl);
  }

  @Get('Users')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({
    summary: 'List or find Users',
    description: `\`filter\`: \`eq\` on userName, externalId, emails.value or emails[type eq "work"].value, joined by \`and\`. ${ERRORS}`,
  })
  @ApiQuery({ name: 'filter', required: false, example: 'userName eq "alice@acme.example"' })
  @ApiQuery({ name: 'startIndex', required: false, description: '1-based' })
  @ApiQuery({ name: 'count', required: false, description: 'At most 200' })
  list(@Query() query: Record<string, unknown>, @Req() req: ScimRequest) {
    return this.users.list(query, this.caller(req));
  }

  @Get('Users/:id')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({ summary: 'Get a User' })
  @ApiParam({ name: 'id', format: 'uuid' })
  get(@Param('id') id: string, @Req() req: ScimRequest) {
    return this.users.get(id, this.caller(req));
  }

  @Post('Users')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({
    summary: 'Create (pre-provision) a User',
    description:
      'Linked to a developer now or at their first login: by subject = externalId, else by verified email. `active: false` blocks them. 409 `uniqueness` for a taken userName.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      example: { schemas: [USER_SCHEMA], userName: 'alice@acme.example', externalId: 'alice', active: true },
    },
  })
  @ApiResponse({ status: 201, description: 'The User resource; `Location` is its `meta.location` (RFC 7644 §3.3).' })
  async create(@Body() body: unknown, @Req() req: ScimRequest, @Res({ passthrough: true }) res: Response) {
    const user = await this.users.create(body, this.caller(req));
    res.setHeader('Location', user.meta.location);
    return user;
  }

  @Put('Users/:id')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({ summary: 'Replace a User', description: '`active: false` blocks the developer; `true` unblocks.' })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiBody({ schema: { type: 'object' } })
  replace(@Param('id') id: string, @Body() body: unknown, @Req() req: ScimRequest) {
    return this.users.replace(id, body, this.caller(req));
  }

  @Patch('Users/:id')
  @Header('Content-Type', SCIM_CONTENT_TYPE)
  @ApiOperation({
    summary: 'Patch a User (add, replace, remove)',
    description: 'Paths or path-less value objects; `active` also as Entra ID\'s "True"/"False".',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiBody({
    schema: {
      type: 'object',
      example: {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', path: 'active', value: false }],
      },
    },
  })
  patch(@Param('id') id: string, @Body() body: unknown, @Req() req: ScimRequest) {
    return this.users.patch(id, body, this.caller(req));
  }

  @Delete('Users/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a User', description: 'The developer it provisions stays blocked.' })
  @ApiParam({ name: 'id', format: 'uuid' })
  async remove(@Param('id') id: string, @Req() req: ScimRequest): Promise<void> {
    await this.users.remove(id, this.caller(req));
  }
}
