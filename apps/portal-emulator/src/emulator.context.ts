import type { EmulatorState } from './emulator.state.js';

export interface PortalFaults {
  latencyMs?: number;
  failStatus?: number;
  /** Only requests whose path starts with one of these prefixes; all when absent. */
  paths?: string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The raw query string, without the `?` ('' when none). */
  query: string;
  headers: Record<string, string>;
  body: unknown;
}

/** Everything the controllers, guards and middleware share for one emulator instance. */
export interface EmulatorContext {
  state: EmulatorState;
  apiSecret: string;
  adminToken: string;
  faults: PortalFaults | null;
  /** The last `maxRecordedRequests` requests, oldest first (none when 0). */
  requests: RecordedRequest[];
  maxRecordedRequests: number;
}

export const EMULATOR_CONTEXT = Symbol('EMULATOR_CONTEXT');
