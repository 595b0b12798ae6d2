import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';

/** Names and shapes of the list parameters; DevelopersService validates the values. */
export class ListDevelopersQueryDto {
  @ApiPropertyOptional({ description: 'Exact email, case-insensitive.' })
  @IsOptional()
  @IsString()
  @MaxLength(320)
  email?: string;

  @ApiPropertyOptional({ description: 'Cloudentity organisation id.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  organization?: string;

  @ApiPropertyOptional({ enum: ['active', 'blocked'] })
  @IsOptional()
  @IsString()
  @MaxLength(16)
  status?: string;

  @ApiPropertyOptional({ description: 'Page size, 1 to 1000.', default: 100 })
  @IsOptional()
  @IsString()
  @MaxLength(8)
  limit?: string;

  @ApiPropertyOptional({ description: 'The `next_cursor` of the previous page (opaque).' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

export class LoginHistoryQueryDto {
  @ApiPropertyOptional({ description: 'Page size, 1 to 1000.', default: 100 })
  @IsOptional()
  @IsString()
  @MaxLength(8)
  limit?: string;

  @ApiPropertyOptional({ description: 'The `next_cursor` of the previous page (opaque).' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}

export class UpdateDeveloperDto {
  @ApiProperty({ enum: ['active', 'blocked'], description: 'A blocked developer cannot sign in.' })
  @IsIn(['active', 'blocked'], { message: 'status must be "active" or "blocked"' })
  status!: 'active' | 'blocked';
}
