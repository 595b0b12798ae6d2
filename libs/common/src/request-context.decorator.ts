import { createParamDecorator, type ExecutionContext } from '@nestjs/common';

/** Who sent a request, as the audit log records it (every admin change, every login). */
export interface RequestContextData {
  ip: string | null;
  userAgent: string | null;
  /** The id pino-http gave the request (the `X-Request-Id` a caller may quote). */
  requestId: string | null;
}

/** The parts of an Express request the context is read from (a plain object fits in tests). */
interface ContextSource {
  ip?: string;
  id?: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** The request context of an Express request; for guards and filters that hold the request. */
export function requestContextOf(req: ContextSource): RequestContextData {
  const ua = req.headers['user-agent'];
  return {
    ip: req.ip ?? null,
    userAgent: typeof ua === 'string' ? ua : null,
    requestId: typeof req.id === 'string' ? req.id : null,
  };
}

/**
 * Route parameter decorator: `@RequestContext() ctx: RequestContextData` (as immich's `@Auth()`),
 * so no controller builds the audit context by hand.
 */
export const RequestContext = createParamDecorator((_data: unknown, context: ExecutionContext): RequestContextData =>
  requestContextOf(context.switchToHttp().getRequest<ContextSource>()),
);
