import { ApiProperty } from '@nestjs/swagger';
import type { DeveloperResponse, DeveloperStatus } from '../developer.js';

/** The OpenAPI schema of {@link DeveloperResponse} (what `/api/developers…` answers). */
export class DeveloperResponseDto implements DeveloperResponse {
  @ApiProperty({ format: 'uuid' })
  id!: string;
  @ApiProperty({ description: "The IdP's issuer." })
  issuer!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      "The IdP's subject; after erasure `erased:<sha-256 of the subject>` while the developer is blocked (so they stay blocked), else null.",
  })
  subject!: string | null;
  @ApiProperty({ type: String, nullable: true })
  email!: string | null;
  @ApiProperty()
  email_verified!: boolean;
  @ApiProperty({ type: String, nullable: true })
  name!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Cloudentity organisation id.' })
  organisation_id!: string | null;
  @ApiProperty({ type: String, nullable: true })
  organisation_name!: string | null;
  @ApiProperty({ type: String, nullable: true })
  portal_user_id!: string | null;
  @ApiProperty({ type: String, nullable: true })
  sso_key!: string | null;
  @ApiProperty({ enum: ['active', 'blocked'] })
  status!: DeveloperStatus;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  first_login_at!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  last_login_at!: string | null;
  @ApiProperty()
  login_count!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  erased_at!: string | null;
  @ApiProperty({ format: 'date-time' })
  created_at!: string;
  @ApiProperty({ format: 'date-time' })
  updated_at!: string;
}

/** One page of developers. */
export class DeveloperPageDto {
  @ApiProperty({ type: [DeveloperResponseDto] })
  data!: DeveloperResponseDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page; null on the last.' })
  next_cursor!: string | null;
}
