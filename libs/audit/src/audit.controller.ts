import { AdminRoles, ApiErrors, ErrorResponseDto, actorOf, type AdminPrincipal } from '@app/common';
import { serverConfig, type ServerConfig } from '@app/config';
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
import { EXPORT_CONTENT_TYPES, type AuditExportFormat } from './export/audit-export-format.js';
import { AuditService, type AuditEventPage, type AuditVerifyReport } from './audit.service.js';
import type { AuditCheckpointPage, AuditSigningKeys } from './audit-checkpoints.service.js';
import { nextPageLink } from './cursor.js';
import { PageQueryDto } from './dto/page-query.dto.js';
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
    @Inject(serverConfig.KEY) private readonly config: ServerConfig,
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
      'Recomputes the chain (whole log, `mode=routine` for what was added since the last full verify plus a random sample of older signed ranges, or from_id..to_id), checks every checkpoint signature, the head against the latest checkpoint and the retention anchor; answers `intact` with the count and the last hash, or `broken` with `firstBadSeq` and `problem` (hash_mismatch, missing_events, checkpoint_signature_invalid, head_mismatch, anchor_unexplained, anchor_unproven). `protection` says whether the database role could rewrite the log. A full verify is recorded as an `audit.verified` event. Only one full verify runs at a time across all instances (on demand or scheduled): while one runs, another answers 409 `verify_running`. Each instance runs at most BROKER_AUDIT_VERIFY_CONCURRENCY verifies of any kind at once; more answer 409 `verify_running` with `details.limit`. When no full verify the broker trusts has completed for three scheduled periods (its lock held elsewhere), a routine or range verify adds `fullVerify: overdue` with `fullVerifyOverdue`, and a refused full verify carries them in the error `details`.',
  })
  @ApiOkResponse({
    type: AuditVerifyResultDto,
    description:
      '`{ status: "intact", mode, count, lastSeq, lastHash, checkpoints, protection }` or `{ status: "broken", firstBadSeq, firstBadId, problem, problems, protection }`',
  })
  @ApiErrors({
    409: ['verify_running'],
  })
  verify(@Query() query: AuditVerifyQueryDto, @Req() req: Request): Promise<AuditVerifyReport> {
    const principal = req.user as AdminPrincipal | undefined;
    return this.audit.verify(
      { fromId: query.from_id, toId: query.to_id, expectedHead: query.expected_head, mode: query.mode },
      // A full verify on demand is audited like the scheduled one.
      { recordAs: principal?.id ? actorOf(principal) : 'admin' },
    );
  }

  @Get('checkpoints')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'List signed checkpoints',
    description:
      'Newest first, in keyset pages (`next_cursor`). Each is a JWS (Ed25519 or ES256) over first/last seq, last hash, previous checkpoint hash, count, time and key id; keep copies to verify exports offline.',
  })
  @ApiOkResponse({ description: '`{ "data": [checkpoint…], "next_cursor": string | null }`' })
  checkpoints(@Query() query: PageQueryDto): Promise<AuditCheckpointPage> {
    return this.audit.checkpoints(query);
  }

  @Get('keys')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Checkpoint signing keys (JWKS)',
    description:
      '`keys`: a JWKS of the public keys this broker trusts (the key in hand and BROKER_AUDIT_TRUSTED_KEYS_FILE), safe to save as a trusted file or for the offline verify. `untrusted`: other keys published in audit_signing_keys (which the runtime database role can insert into), each with `trusted: false`, the newest 100 (`untrusted_truncated` when there are more); never save them as trusted.',
  })
  @ApiOkResponse({
    description:
      '`{ "keys": [JWK…], "untrusted": [{ "kid", "jwk", "trusted": false }…], "untrusted_truncated": false }`',
  })
  keys(): Promise<AuditSigningKeys> {
    return this.audit.signingKeys();
  }
}
