import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

/** The keyset paging parameters of every list route (audit events, developers, login history). */
export class PageQueryDto {
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
