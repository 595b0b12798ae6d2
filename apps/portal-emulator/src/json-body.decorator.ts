import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { decodeGo, GoDecodeError, type Decoded, type GoField } from './go-json.js';
import { EmulatorError } from './emulator.state.js';
import type { EmulatorRequest, JsonBody } from './request-pipeline.js';

/** The request body as the pipeline read it (any Content-Type). */
export const JsonBodyParam = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): JsonBody =>
    ctx.switchToHttp().getRequest<EmulatorRequest>().jsonBody ?? { kind: 'empty' },
);

/**
 * Decodes the body like Go's encoding/json into `schema`; an empty, unparsable or mistyped body
 * is `malformed` (the portal cannot decode it), with `message` as the surface words it.
 */
export function decodeBody<S extends Record<string, GoField>>(body: JsonBody, schema: S, message: string): Decoded<S> {
  if (body.kind !== 'json') throw new EmulatorError('malformed', message);
  try {
    return decodeGo(body.value, schema);
  } catch (e) {
    if (e instanceof GoDecodeError) throw new EmulatorError('malformed', message);
    throw e;
  }
}
