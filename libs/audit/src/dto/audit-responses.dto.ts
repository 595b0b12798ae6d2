import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

const text = { type: String, nullable: true } as const;

/** The OpenAPI schema of an audit event (AuditEventRecord). */
export class AuditEventDto {
  @ApiProperty({ description: 'Decimal string (bigint).' })
  id!: string;
  @ApiProperty({ description: 'ISO-8601 UTC with microseconds.' })
  occurred_at!: string;
  @ApiProperty({ description: 'e.g. `login.succeeded`, `developer.blocked`, `profile.updated`.' })
  type!: string;
  @ApiProperty({ enum: ['success', 'failure'] })
  outcome!: string;
  @ApiProperty({ ...text, description: 'The error code of a failure.' })
  reason!: string | null;
  @ApiProperty(text)
  actor!: string | null;
  @ApiProperty(text)
  target!: string | null;
  @ApiProperty(text)
  profile_id!: string | null;
  @ApiProperty({ ...text, format: 'uuid' })
  developer_id!: string | null;
  @ApiProperty(text)
  organisation_id!: string | null;
  @ApiProperty(text)
  ip!: string | null;
  @ApiProperty(text)
  user_agent!: string | null;
  @ApiProperty(text)
  request_id!: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true })
  details!: Record<string, unknown> | null;
  @ApiProperty({ ...text, description: 'Position in the hash chain; null until sealed.' })
  seq!: string | null;
  @ApiProperty({ ...text, description: 'Id of the event sealed just before this one.' })
  prev_id!: string | null;
  @ApiProperty(text)
  prev_hash!: string | null;
  @ApiProperty(text)
  hash!: string | null;
  @ApiProperty(text)
  sealed_at!: string | null;
}

/** One page of audit events. */
export class AuditEventPageDto {
  @ApiProperty({ type: [AuditEventDto] })
  data!: AuditEventDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page; null on the last.' })
  next_cursor!: string | null;
}

export class AuditChainProblemDto {
  @ApiProperty()
  id!: string;
  @ApiProperty({ enum: ['changed', 'removed', 'inserted_out_of_order'] })
  problem!: string;
  @ApiProperty()
  detail!: string;
}

/** Since when no full verify has completed (`fullVerify: overdue`). */
export class FullVerifyOverdueDto {
  @ApiProperty({ ...text, description: 'When the newest trusted full verify completed; null when none did.' })
  lastCompletedAt!: string | null;
  @ApiProperty({ description: 'Seconds since then (or since the oldest retained event).' })
  waitingSeconds!: number;
  @ApiProperty({ description: 'The bound passed: three scheduled periods, in hours.' })
  limitHours!: number;
}

/** The answer of `GET /api/audit/verify`: `intact` or `broken` (fields by status). */
export class AuditVerifyResultDto {
  @ApiProperty({ enum: ['intact', 'broken'] })
  status!: 'intact' | 'broken';
  @ApiProperty({ description: 'Sealed events checked.' })
  count!: number;
  @ApiProperty({ description: 'Events not sealed yet; not covered by the check.' })
  unsealed!: number;
  @ApiPropertyOptional({ ...text, description: 'intact: the first event checked.' })
  firstId?: string | null;
  @ApiPropertyOptional({ ...text, description: 'intact: the last event checked.' })
  lastId?: string | null;
  @ApiPropertyOptional({ ...text, description: 'intact: the hash of the last event.' })
  lastHash?: string | null;
  @ApiPropertyOptional({ description: 'broken: the first event changed, removed or inserted out of order.' })
  firstBadId?: string;
  @ApiPropertyOptional({ enum: ['changed', 'removed', 'inserted_out_of_order'], description: 'broken' })
  problem?: string;
  @ApiPropertyOptional({ type: [AuditChainProblemDto], description: 'broken: every problem, at most 100.' })
  problems?: AuditChainProblemDto[];
  @ApiPropertyOptional({
    enum: ['overdue'],
    description:
      'routine or range verify: no full verify the broker trusts has completed for three BROKER_AUDIT_FULL_VERIFY_HOURS periods (e.g. its lock is held elsewhere).',
  })
  fullVerify?: 'overdue';
  @ApiPropertyOptional({
    description: 'With `fullVerify`: `{ lastCompletedAt: string | null, waitingSeconds, limitHours }`.',
  })
  fullVerifyOverdue?: FullVerifyOverdueDto;
}
