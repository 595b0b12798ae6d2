import { applyDecorators, type Type } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import { ERROR_CODES, type ErrorCode } from '../domain-error.js';

/** The `error` member of every non-TIB error answer (the broker's global filter writes it). */
export class ErrorBodyDto {
  @ApiProperty({ enum: ERROR_CODES, description: 'Machine-readable; stable across releases.' })
  code!: ErrorCode;

  @ApiProperty({ description: 'For people; never carries a secret.' })
  message!: string;

  @ApiProperty({ description: 'Also sent as X-Request-Id; quote it when reporting a problem.' })
  requestId!: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Safe facts, e.g. `parameter` naming the bad query parameter.',
  })
  details?: Record<string, unknown>;
}

/** `{ "error": { code, message, requestId, details? } }` */
export class ErrorResponseDto {
  @ApiProperty({ type: ErrorBodyDto })
  error!: ErrorBodyDto;
}

/** TIB's error envelope, kept on `/api/profiles`: `{ "Status": "error", "Error": "…" }`. */
export class TibErrorResponseDto {
  @ApiProperty({ enum: ['error'] })
  Status!: 'error';

  @ApiProperty({ description: "TIB's message, e.g. `Authorization failed`." })
  Error!: string;
}

/**
 * Documents a route's (or a controller's) error answers: per HTTP status, the error codes it
 * answers with, each with the error body's schema.
 */
export function ApiErrors(
  codes: Partial<Record<number, readonly ErrorCode[]>>,
  type: Type<unknown> = ErrorResponseDto,
): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...Object.entries(codes).map(([status, list]) =>
      ApiResponse({
        status: Number(status),
        type,
        description: `Error code${(list ?? []).length === 1 ? '' : 's'}: ${(list ?? []).map((c) => `\`${c}\``).join(', ')}`,
      }),
    ),
  );
}
