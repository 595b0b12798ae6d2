import type { EmulatorState } from './emulator.state.js';

export interface PortalFaults {
  latencyMs?: number;
  failStatus?: number;
  /** Only requests whose path starts with one of these prefixes; all when absent. */
  paths?: string[];
  /** Only requests with one of these methods (upper case); all when absent. */
  methods?: string[];
  /**
   * Carry the request out, then lose its answer: the client sees the connection reset, or the
   * `failStatus` instead of the real answer. An outcome the client cannot know (the portal
   * committed, e.g. created the organisation, but the answer never arrived).
   */
  loseAnswer?: boolean;
  /** Let this many matching requests through untouched before the faults apply (default 0). */
  skip?: number;
  /** Apply the faults to this many matching requests (after `skip`), then to none; all when absent. */
  times?: number;
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
  /** Requests the current faults matched so far (for `skip` and `times`); reset when faults are set. */
  faultMatches: number;
  /** The last `maxRecordedRequests` requests, oldest first (none when 0). */
  requests: RecordedRequest[];
  maxRecordedRequests: number;
}

export const EMULATOR_CONTEXT = Symbol('EMULATOR_CONTEXT');
