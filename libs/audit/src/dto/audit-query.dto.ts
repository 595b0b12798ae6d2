import { ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { AUDIT_EVENT_TYPES } from '../audit-event.js';
import { PageQueryDto } from './page-query.dto.js';

/**
 * The query parameters the audit routes accept. This DTO fixes their names and shapes (unknown
 * parameters are refused by the global ValidationPipe); AuditService validates the values, so
 * the HTTP API, the CLI and other libs share one set of rules and one error code
 * (`validation_failed`, naming the parameter).
 */
export class AuditFiltersDto {
  @ApiPropertyOptional({
    type: [String],
    description: `Event type; repeat for several. A prefix ending in \`.*\` selects every type under it (e.g. \`login.*\`). Types: ${AUDIT_EVENT_TYPES.join(', ')}.`,
    example: ['login.failed'],
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? [value] : value))
  @IsArray()
  @ArrayMaxSize(20)
  @IsString({ each: true })
  @MaxLength(100, { each: true })
  type?: string[];

  @ApiPropertyOptional({ enum: ['success', 'failure'] })
  @IsOptional()
  @IsString()
  @MaxLength(16)
  outcome?: string;

  @ApiPropertyOptional({ description: 'Developer id (uuid).', format: 'uuid' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  developer?: string;

  @ApiPropertyOptional({
    description: "The developer's email (exact, case-insensitive). The log itself stores no emails.",
  })
  @IsOptional()
  @IsString()
  @MaxLength(320)
  email?: string;

  @ApiPropertyOptional({ description: 'SSO profile id.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  profile?: string;

  @ApiPropertyOptional({ description: 'Cloudentity organisation id.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  organization?: string;

  @ApiPropertyOptional({ description: 'Client IP address or CIDR range.', example: '203.0.113.0/24' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  ip?: string;

  @ApiPropertyOptional({ description: 'ISO-8601 time (inclusive).', example: '2025-01-31T12:00:00Z' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  since?: string;

  @ApiPropertyOptional({ description: 'ISO-8601 time (exclusive).', example: '2025-01-31T13:00:00Z' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  until?: string;

  @ApiPropertyOptional({
    description: 'Keywords (case-insensitive), all of which must appear in the reason, the target or the email.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;

  @ApiPropertyOptional({ enum: ['desc', 'asc'], default: 'desc', description: 'By event id.' })
  @IsOptional()
  @IsString()
  @MaxLength(8)
  order?: string;
}

export class AuditEventsQueryDto extends IntersectionType(AuditFiltersDto, PageQueryDto) {}

export class AuditExportQueryDto extends AuditFiltersDto {
  @ApiPropertyOptional({ enum: ['ndjson', 'csv'], default: 'ndjson' })
  @IsOptional()
  @IsString()
  @MaxLength(8)
  format?: string;
}

export class AuditVerifyQueryDto {
  @ApiPropertyOptional({ description: 'First event id of the range (default: the first retained event).' })
  @IsOptional()
  @IsString()
  @MaxLength(20)
  from_id?: string;

  @ApiPropertyOptional({ description: 'Last event id of the range (default: the last sealed event).' })
  @IsOptional()
  @IsString()
  @MaxLength(20)
  to_id?: string;

  @ApiPropertyOptional({
    description:
      'A head hash the auditor kept from an earlier verify (`lastHash`): broken (`head_mismatch`) unless this chain still contains it.',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  expected_head?: string;

  @ApiPropertyOptional({
    description:
      '`full` (default) re-reads every event; `routine` checks what was added since the last full verify plus a random sample of older checkpoint ranges.',
    enum: ['full', 'routine'],
  })
  @IsOptional()
  @IsIn(['full', 'routine'])
  mode?: 'full' | 'routine';
}
