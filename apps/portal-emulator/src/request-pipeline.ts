import type { NextFunction, Request, Response } from 'express';
import type { EmulatorContext, PortalFaults } from './emulator.context.js';

/** What the body reader found; `@JsonBody()` hands it to the controllers. */
export type JsonBody = { kind: 'empty' } | { kind: 'json'; value: unknown } | { kind: 'malformed' };

export interface EmulatorRequest extends Request {
  jsonBody?: JsonBody;
}

const MAX_BODY_BYTES = 1024 * 1024;
export const CONTROL_PREFIX = '/__emulator';

function readBody(req: Request): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function headerRecord(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function faultApplies(faults: PortalFaults, path: string): boolean {
  return !faults.paths || faults.paths.some((prefix) => path.startsWith(prefix));
}

function faultBody(path: string, status: number): unknown {
  const message = `Injected fault (HTTP ${status})`;
  // Each surface keeps its own error shape so clients parse injected failures like real ones.
  if (path === '/api' || path.startsWith('/api/')) return { Status: 'error', Message: message, Meta: null };
  return { errors: [message] };
}

/**
 * Runs before routing, on every request: read the raw body whatever the Content-Type (TIB sends
 * JSON with no Content-Type at all), record the request, then apply faults (latency, then
 * failStatus). The emulator's own control routes are neither recorded nor faulted.
 */
export function requestPipeline(ctx: EmulatorContext) {
  return (req: EmulatorRequest, res: Response, next: NextFunction): void => {
    void (async () => {
      const raw = await readBody(req);
      if (raw === null) {
        res.status(413).json({ errors: ['Request body too large'] });
        return;
      }
      const text = raw.toString('utf8');
      let body: unknown = undefined;
      if (text.trim() === '') {
        req.jsonBody = { kind: 'empty' };
      } else {
        try {
          body = JSON.parse(text) as unknown;
          req.jsonBody = { kind: 'json', value: body };
        } catch {
          body = text;
          req.jsonBody = { kind: 'malformed' };
        }
      }
      const path = req.originalUrl.split('?')[0];
      if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`)) {
        next();
        return;
      }
      ctx.requests.push({ method: req.method, path, headers: headerRecord(req), body });
      const faults = ctx.faults;
      if (faults && faultApplies(faults, path)) {
        if (faults.latencyMs && faults.latencyMs > 0) {
          await new Promise((r) => setTimeout(r, faults.latencyMs));
        }
        if (faults.failStatus) {
          if (!res.destroyed && !res.headersSent) {
            res.status(faults.failStatus).json(faultBody(path, faults.failStatus));
          }
          return;
        }
      }
      if (!res.destroyed) next();
    })().catch(next);
  };
}
