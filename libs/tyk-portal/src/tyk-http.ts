import { DomainError, upstreamAgent } from '@app/common';
import { portalConfig, tykBaseUrl, type PortalConfig } from '@app/config';
import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { request as undiciRequest, type Agent } from 'undici';
import { TYK_CALL_OBSERVER } from './tyk-portal.constants.js';
import type { TykCallObserver, TykCallTarget } from './tyk-portal.types.js';

export type TykMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One request to Tyk, described without secrets in `endpoint` (used for logs and metrics). */
export interface TykRequest {
  target: TykCallTarget;
  method: TykMethod;
  /** Path and query, appended to the base URL. */
  path: string;
  /** Route template for metrics and logs, e.g. `/portal-api/users/:id`. */
  endpoint: string;
  headers: Record<string, string | false>;
  body?: string;
  /** Safe to repeat (GET, PUT, DELETE): retried on network errors and 5xx. */
  idempotent: boolean;
}

export interface TykResponse {
  status: number;
  text: string;
}

/** Network errors worth another try: the portal may be restarting or a connection was cut. */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ECONNABORTED',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  // undici: the connection closed before an answer.
  'UND_ERR_SOCKET',
]);

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2000;
const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/**
 * The one HTTP path to Tyk: keep-alive connections (login storms reuse connections instead of
 * paying a TCP/TLS handshake each), a deadline per attempt (the whole exchange, body included), bounded retries with exponential
 * backoff for calls that are safe to repeat, and failures mapped to the portal error codes. It
 * never logs a header or a body, so credentials, nonces and tokens stay out of the logs.
 *
 * undici rather than axios: on the login path this client makes three calls per login, and axios
 * cost 430–590 µs of CPU per call on the 2-core bench machine against ~105 µs for undici
 * (bench/README.md, issue 8). undici follows no redirects and reads no proxy variables by default.
 */
@Injectable()
export class TykHttp implements OnModuleDestroy {
  private readonly logger = new Logger(TykHttp.name);
  private readonly agent: Agent;

  constructor(
    @Inject(portalConfig.KEY) private readonly config: PortalConfig,
    @Optional() @Inject(TYK_CALL_OBSERVER) private readonly observer?: TykCallObserver | null,
  ) {
    this.agent = upstreamAgent({
      connections: 128,
      timeoutMs: config.timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
      // Only an explicit SSLInsecureSkipVerify turns verification off (TIB issue #102).
      verifyTls: !config.sslInsecureSkipVerify,
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.destroy();
  }

  /** Base URL of a target as TIB builds it (`Endpoint + ":" + Port`); throws when not configured. */
  baseUrl(target: TykCallTarget): string {
    const cfg = target === 'gateway' ? this.config.tykApi.gateway : this.config.tykApi.dashboard;
    const base = tykBaseUrl(cfg);
    if (base === null) {
      const key = target === 'gateway' ? 'GatewayConfig' : 'DashboardConfig';
      throw new DomainError(
        'portal_not_configured',
        `TykAPISettings.${key}.Endpoint is not set (TYK_IB_TYKAPISETTINGS_${key.toUpperCase()}_ENDPOINT)`,
        { target },
      );
    }
    return base;
  }

  /**
   * Sends a request and returns whatever HTTP answer came back (any status), after the retries a
   * safe call is allowed. Throws `portal_timeout` or `portal_unreachable` when no answer came.
   */
  async send(req: TykRequest): Promise<TykResponse> {
    const url = this.baseUrl(req.target) + req.path;
    const maxAttempts = req.idempotent ? this.config.retries + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      const outcome = await this.attempt(url, req);
      const ms = performance.now() - started;
      this.report(req, outcome.kind === 'response' ? outcome.response.status : 'error', ms, attempt);

      if (outcome.kind === 'response') {
        const status = outcome.response.status;
        if (status >= 500 && attempt < maxAttempts) {
          this.logger.warn(`${req.method} ${req.endpoint} answered ${status}; retrying (attempt ${attempt + 1})`);
          await backoff(attempt);
          continue;
        }
        return outcome.response;
      }

      const { code, timedOut } = outcome;
      if (timedOut) {
        // Not retried: a slow portal is not helped by more load, and the user is waiting.
        this.logger.warn(`${req.method} ${req.endpoint} timed out after ${this.config.timeoutMs} ms`);
        throw new DomainError(
          'portal_timeout',
          `${req.target} did not answer ${req.method} ${req.endpoint} within ${this.config.timeoutMs} ms`,
          { target: req.target, endpoint: req.endpoint },
        );
      }
      if (code === 'ERR_BAD_RESPONSE') {
        throw malformed(req, 'the answer could not be read (too large or cut short)');
      }
      if (TRANSIENT_NETWORK_CODES.has(code) && attempt < maxAttempts) {
        this.logger.warn(`${req.method} ${req.endpoint} failed (${code}); retrying (attempt ${attempt + 1})`);
        await backoff(attempt);
        continue;
      }
      this.logger.warn(`${req.method} ${req.endpoint} failed: ${code}`);
      throw new DomainError(
        'portal_unreachable',
        `${req.target} is unreachable (${code}) for ${req.method} ${req.endpoint}`,
        { target: req.target, endpoint: req.endpoint, cause: code },
      );
    }
  }

  private async attempt(
    url: string,
    req: TykRequest,
  ): Promise<{ kind: 'response'; response: TykResponse } | { kind: 'error'; code: string; timedOut: boolean }> {
    // The agent's timeouts measure idle time only (a body dripped a byte at a time, or a stream of
    // 1xx answers, restarts them): this is the deadline for the whole attempt, body included. A
    // timer cleared when the attempt ends, not AbortSignal.timeout, whose timer and signal live on
    // for the whole timeout after every call (three calls a login, thousands alive at load).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.config.timeoutMs);
    try {
      // Tyk's own clients ask for JSON (specs/tyk-portal.md E10); a request may say otherwise.
      const headers: Record<string, string> = { 'user-agent': 'portal-sso-broker', accept: 'application/json' };
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== false) headers[name] = value;
      }
      const res = await undiciRequest(url, {
        method: req.method,
        headers,
        body: req.body,
        dispatcher: this.agent,
        signal: deadline.signal,
      });
      return { kind: 'response', response: { status: res.statusCode, text: await res.body.text() } };
    } catch (error) {
      // No retry of a POST on a reused connection the server had just closed: undici reads the
      // server's Keep-Alive timeout and retires a connection before the server would close it.
      const code = errorCode(error);
      if (deadline.signal.aborted || TIMEOUT_CODES.has(code)) {
        return { kind: 'error', code: 'ETIMEDOUT', timedOut: true };
      }
      if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return { kind: 'error', code: 'ERR_BAD_RESPONSE', timedOut: false };
      return { kind: 'error', code, timedOut: false };
    } finally {
      clearTimeout(timer);
    }
  }

  private report(req: TykRequest, status: number | 'error', ms: number, attempt: number): void {
    if (!this.observer) return;
    try {
      this.observer({
        target: req.target,
        endpoint: req.endpoint,
        method: req.method,
        status,
        ms: Math.round(ms * 1000) / 1000,
        attempt,
      });
    } catch {
      // A broken metrics hook must not break a login.
    }
  }
}

async function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  // Jitter spreads the retries of a login storm instead of synchronising them.
  const ms = ceiling / 2 + Math.random() * (ceiling / 2);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Maps a non-success status to its error: 401/403 → portal_auth_failed (403 → portal_rejected
 * when the API uses it to refuse a request rather than a credential), else portal_rejected.
 */
export function statusError(
  req: Pick<TykRequest, 'target' | 'method' | 'endpoint'>,
  status: number,
  options: { forbiddenIsRefusal?: boolean } = {},
): DomainError {
  const details = { target: req.target, endpoint: req.endpoint, status };
  if (status === 401 || (status === 403 && !options.forbiddenIsRefusal)) {
    return new DomainError(
      'portal_auth_failed',
      `${req.target} refused the credentials for ${req.method} ${req.endpoint} (${status})`,
      details,
    );
  }
  return new DomainError(
    'portal_rejected',
    `${req.target} rejected ${req.method} ${req.endpoint} (${status})`,
    details,
  );
}

/** Parses a JSON answer; a body that is not JSON is a malformed answer (`portal_rejected`). */
export function parseJson(req: Pick<TykRequest, 'target' | 'method' | 'endpoint'>, res: TykResponse): unknown {
  try {
    return JSON.parse(res.text) as unknown;
  } catch {
    throw malformed(req, 'the body is not JSON');
  }
}

export function malformed(req: Pick<TykRequest, 'target' | 'method' | 'endpoint'>, why: string): DomainError {
  return new DomainError(
    'portal_rejected',
    `${req.target} sent a malformed answer to ${req.method} ${req.endpoint}: ${why}`,
    { target: req.target, endpoint: req.endpoint },
  );
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** The network error code of a failed request (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, …). */
function errorCode(error: unknown): string {
  let e: unknown = error;
  for (let depth = 0; depth < 3 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (!code.startsWith('UND_ERR') || TIMEOUT_CODES.has(code))) return code;
    e = (e as { cause?: unknown }).cause;
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ERR_NETWORK';
}
