import { AdminRoles, ApiErrors, ErrorResponseDto } from '@app/common';
import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { Controller, Get, Header, Inject, Query, Req, Res, StreamableFile } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { AuditVerifyResult } from './audit-chain.service.js';
import { EXPORT_CONTENT_TYPES, type AuditExportFormat } from './audit-export.js';
import { AuditService, type AuditEventPage } from './audit.service.js';
import { nextPageLink } from './cursor.js';
import { AuditEventsQueryDto, AuditExportQueryDto, AuditVerifyQueryDto } from './dto/audit-query.dto.js';
import { AuditEventPageDto, AuditVerifyResultDto } from './dto/audit-responses.dto.js';

@ApiTags('audit')
@ApiBearerAuth('admin-token')
@ApiSecurity('tib-secret')
@ApiBadRequestResponse({
  type: ErrorResponseDto,
  description: '`validation_failed`: the message names the bad parameter; `cursor_invalid`.',
})
@ApiErrors({ 401: ['unauthorized'], 403: ['forbidden'], 429: ['rate_limited'], 503: ['admin_disabled', 'unavailable'] })
@AdminRoles('admin', 'auditor')
@Controller('api/audit')
export class AuditController {
  constructor(
    private readonly audit: AuditService,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  @Get('events')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'List audit events',
    description:
      'Newest first (order=asc for oldest first). Keyset pages on the event id: follow `next_cursor` or the `Link: <…>; rel="next"` header; pages stay consistent while new events arrive.',
  })
  @ApiOkResponse({ type: AuditEventPageDto, description: 'One page of events, newest first by default.' })
  async events(
    @Query() query: AuditEventsQueryDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AuditEventPage> {
    const page = await this.audit.query(query);
    if (page.next_cursor) {
      res.setHeader('Link', nextPageLink(req.originalUrl, this.config.publicUrl, page.next_cursor));
    }
    return page;
  }

  @Get('export')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Export audit events',
    description: 'Streams every matching event as NDJSON (default) or CSV, with the hash-chain fields.',
  })
  @ApiProduces(EXPORT_CONTENT_TYPES.ndjson, EXPORT_CONTENT_TYPES.csv)
  @ApiOkResponse({ description: 'One event per line (CSV: with a header row).' })
  async export(@Query() query: AuditExportQueryDto): Promise<StreamableFile> {
    const { format = 'ndjson', ...filters } = query;
    const stream = await this.audit.exportEvents(filters, format);
    const f = format as AuditExportFormat;
    return new StreamableFile(stream, {
      type: EXPORT_CONTENT_TYPES[f],
      disposition: `attachment; filename="audit-events.${f}"`,
    });
  }

  @Get('verify')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Verify the hash chain',
    description:
      'Recomputes the chain (whole log, or from_id..to_id) and answers `intact` with the count and the last hash, or `broken` with the first event changed, removed or inserted out of order.',
  })
  @ApiOkResponse({
    type: AuditVerifyResultDto,
    description:
      '`{ status: "intact", count, lastId, lastHash }` or `{ status: "broken", firstBadId, problem, count, problems }`',
  })
  verify(@Query() query: AuditVerifyQueryDto): Promise<AuditVerifyResult> {
    return this.audit.verify({ fromId: query.from_id, toId: query.to_id });
  }
}
