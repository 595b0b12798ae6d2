import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PageQueryDto } from '@app/common';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';

/** Names and shapes of the list parameters; DevelopersService validates the values. */
export class ListDevelopersQueryDto extends PageQueryDto {
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
}

export class LoginHistoryQueryDto extends PageQueryDto {}

export class UpdateDeveloperDto {
  @ApiProperty({ enum: ['active', 'blocked'], description: 'A blocked developer cannot sign in.' })
  @IsIn(['active', 'blocked'], { message: 'status must be "active" or "blocked"' })
  status!: 'active' | 'blocked';
}
