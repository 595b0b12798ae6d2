import {
  AdminRoles,
  ApiErrors,
  DomainError,
  TibErrorResponseDto,
  requestContextOf,
  type AdminPrincipal,
} from '@app/common';
import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ProfileDeletedEnvelopeDto, ProfileEnvelopeDto, ProfileListEnvelopeDto } from './dto/profile-responses.dto.js';
import type { StoredProfile, TibProfile } from './profile.model.js';
import { changeActor, ProfilesService, type ChangeContext } from './profiles.service.js';

/** TIB's success envelope, byte-compatible: `{"Status":"ok","ID":…,"Data":…}`. */
interface TibEnvelope<T> {
  Status: 'ok';
  ID: string;
  Data: T;
}

const ok = <T>(id: string, data: T): TibEnvelope<T> => ({ Status: 'ok', ID: id, Data: data });

/** TIB reads the raw body as JSON whatever its content type (curl -d sends form-urlencoded). */
function decodeBody(body: unknown): unknown {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as unknown;
    } catch {
      throw new DomainError('bad_request', 'Failed to decode body data');
    }
  }
  if (
    body === undefined ||
    (typeof body === 'object' && body !== null && Object.keys(body).length === 0 && !Array.isArray(body))
  ) {
    // No body at all: TIB's decoder fails on EOF.
    throw new DomainError('bad_request', 'Failed to decode body data');
  }
  return body;
}

function ifMatch(header: string | undefined): number | undefined {
  if (header === undefined || header === '*') return undefined;
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!m) throw new DomainError('bad_request', 'If-Match must be a profile version, as sent in the ETag header');
  return Number(m[1]);
}

function context(req: Request): ChangeContext {
  const { user } = req as unknown as { user?: AdminPrincipal };
  return {
    actor: changeActor(user),
    ...requestContextOf(req),
  };
}

const etag = (res: Response, stored: StoredProfile) => res.setHeader('ETag', `"${stored.version}"`);

/** The TIB admin API for profiles (`specs/tib.md` §3), same paths, envelopes, codes and messages. */
@ApiTags('profiles (TIB-compatible)')
@ApiSecurity('tib-secret')
@ApiResponse({
  status: 401,
  type: TibErrorResponseDto,
  description: '{"Status":"error","Error":"Authorization failed"}',
})
@ApiErrors({ 403: ['forbidden'], 429: ['rate_limited'], 503: ['admin_disabled', 'unavailable'] }, TibErrorResponseDto)
@AdminRoles('admin')
@Controller('api/profiles')
export class ProfilesController {
  constructor(private readonly profiles: ProfilesService) {}

  @Get()
  @ApiOperation({ summary: 'List every profile (sorted by ID; TIB leaves the order undefined)' })
  @ApiOkResponse({ type: ProfileListEnvelopeDto })
  async list(): Promise<TibEnvelope<TibProfile[]>> {
    return ok(
      '',
      (await this.profiles.list()).map((s) => s.profile),
    );
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one profile; ETag carries its version' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ type: ProfileEnvelopeDto })
  @ApiErrors({ 404: ['profile_not_found'] }, TibErrorResponseDto)
  async get(@Param('id') id: string, @Res({ passthrough: true }) res: Response): Promise<TibEnvelope<TibProfile>> {
    const stored = await this.profiles.get(id);
    etag(res, stored);
    return ok(id, stored.profile);
  }

  @Post(':id')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a profile (201); 400 when the ID exists, mismatches or the profile is invalid' })
  @ApiBody({ description: 'A TIB profile (keys read case-insensitively)', schema: { type: 'object' } })
  @ApiResponse({ status: 201, type: ProfileEnvelopeDto })
  @ApiErrors(
    { 400: ['bad_request', 'profile_exists', 'profile_id_mismatch', 'profile_invalid'], 413: ['payload_too_large'] },
    TibErrorResponseDto,
  )
  async create(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TibEnvelope<TibProfile>> {
    const stored = await this.profiles.create(id, decodeBody(body), context(req));
    etag(res, stored);
    return ok(id, stored.profile);
  }

  @Put(':id')
  @ApiOperation({ summary: 'Replace a profile (200); If-Match with the ETag version refuses a lost update (409)' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiBody({ description: 'A TIB profile (keys read case-insensitively)', schema: { type: 'object' } })
  @ApiOkResponse({ type: ProfileEnvelopeDto })
  @ApiErrors(
    {
      400: ['bad_request', 'profile_id_mismatch', 'profile_invalid'],
      404: ['profile_not_found'],
      409: ['profile_version_conflict'],
      413: ['payload_too_large'],
    },
    TibErrorResponseDto,
  )
  async update(
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('if-match') match: string | undefined,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TibEnvelope<TibProfile>> {
    const stored = await this.profiles.update(id, decodeBody(body), context(req), ifMatch(match));
    etag(res, stored);
    return ok(id, stored.profile);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Delete a profile (200, Data {})' })
  @ApiHeader({ name: 'If-Match', required: false })
  @ApiOkResponse({ type: ProfileDeletedEnvelopeDto })
  @ApiErrors(
    { 400: ['bad_request'], 404: ['profile_not_found'], 409: ['profile_version_conflict'] },
    TibErrorResponseDto,
  )
  async remove(
    @Param('id') id: string,
    @Headers('if-match') match: string | undefined,
    @Req() req: Request,
  ): Promise<TibEnvelope<Record<string, never>>> {
    await this.profiles.remove(id, context(req), ifMatch(match));
    return ok(id, {});
  }
}
