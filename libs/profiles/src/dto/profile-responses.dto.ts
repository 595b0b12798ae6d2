import { ApiProperty } from '@nestjs/swagger';

const PROFILE_SCHEMA = {
  type: 'object',
  additionalProperties: true,
  description: 'A TIB profile (ID, ActionType, ProviderName, ProviderConfig, IdentityHandlerConfig, …).',
} as const;

/** TIB's success envelope around one profile: `{"Status":"ok","ID":…,"Data":{profile}}`. */
export class ProfileEnvelopeDto {
  @ApiProperty({ enum: ['ok'] })
  Status!: 'ok';
  @ApiProperty({ description: 'The profile id ("" on the list).' })
  ID!: string;
  @ApiProperty(PROFILE_SCHEMA)
  Data!: Record<string, unknown>;
}

/** TIB's success envelope around every profile. */
export class ProfileListEnvelopeDto {
  @ApiProperty({ enum: ['ok'] })
  Status!: 'ok';
  @ApiProperty({ description: 'Always "" on the list.' })
  ID!: string;
  @ApiProperty({ type: 'array', items: PROFILE_SCHEMA })
  Data!: Record<string, unknown>[];
}

/** The answer of a delete: `{"Status":"ok","ID":…,"Data":{}}`. */
export class ProfileDeletedEnvelopeDto {
  @ApiProperty({ enum: ['ok'] })
  Status!: 'ok';
  @ApiProperty()
  ID!: string;
  @ApiProperty({ type: 'object', additionalProperties: false, description: 'Always `{}`.' })
  Data!: Record<string, never>;
}
