import { DomainError } from '@app/common';
import { BROKER_CONFIG, tykBaseUrl, type BrokerConfig } from '@app/config';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { isAxiosError, type AxiosResponse } from 'axios';
import http from 'node:http';
import https from 'node:https';
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
]);

const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 2000;
const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/**
 * The one HTTP path to Tyk: keep-alive agents (login storms reuse connections instead of paying a
 * TCP/TLS handshake each), a deadline per attempt, bounded retries with exponential backoff for
 * calls that are safe to repeat, and failures mapped to the portal error codes. It never logs a
 * header or a body, so credentials, nonces and tokens stay out of the logs.
 */
@Injectable()
export class TykHttp implements OnModuleDestroy {
  private readonly logger = new Logger(TykHttp.name);
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly httpService: HttpService,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
    @Optional() @Inject(TYK_CALL_OBSERVER) private readonly observer?: TykCallObserver | null,
  ) {
    const agentOptions = { keepAlive: true, maxSockets: 128, maxFreeSockets: 32, scheduling: 'lifo' as const };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent({
      ...agentOptions,
      // Only an explicit SSLInsecureSkipVerify turns verification off (TIB issue #102).
      rejectUnauthorized: !config.sslInsecureSkipVerify,
    });
  }

  onModuleDestroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
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
    const maxAttempts = req.idempotent ? this.config.portal.retries + 1 : 1;
    let staleRetryUsed = false;
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
        return { status, text: typeof outcome.response.data === 'string' ? outcome.response.data : '' };
      }

      const { code, timedOut, staleSocket } = outcome;
      if (timedOut) {
        // Not retried: a slow portal is not helped by more load, and the user is waiting.
        this.logger.warn(`${req.method} ${req.endpoint} timed out after ${this.config.portal.timeoutMs} ms`);
        throw new DomainError(
          'portal_timeout',
          `${req.target} did not answer ${req.method} ${req.endpoint} within ${this.config.portal.timeoutMs} ms`,
          { target: req.target, endpoint: req.endpoint },
        );
      }
      // A keep-alive connection the server had already closed: the request never reached it, so
      // one more try on a fresh connection is safe even for a POST (Node's documented pattern).
      if (staleSocket && !staleRetryUsed) {
        staleRetryUsed = true;
        attempt--;
        continue;
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
  ): Promise<
    | { kind: 'response'; response: AxiosResponse<unknown> }
    | { kind: 'error'; code: string; timedOut: boolean; staleSocket: boolean }
  > {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.config.portal.timeoutMs);
    try {
      const response = await this.httpService.axiosRef.request<unknown>({
        url,
        method: req.method,
        headers: {
          // Go's client sends no Accept; axios would add its own. Content-Type only when asked.
          Accept: false,
          'Content-Type': false,
          'User-Agent': 'portal-sso-broker',
          ...req.headers,
        },
        data: req.body,
        signal: controller.signal,
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
        // Credentials must never follow a redirect to another host; a 3xx is an answer.
        maxRedirects: 0,
        // Proxies come from configuration, not from ambient environment variables.
        proxy: false,
        responseType: 'text',
        transformResponse: [(data: unknown) => data],
        validateStatus: () => true,
        maxContentLength: MAX_RESPONSE_BYTES,
      });
      return { kind: 'response', response };
    } catch (error) {
      const code = isAxiosError(error) ? (error.code ?? 'ERR_NETWORK') : 'ERR_NETWORK';
      const request: unknown = isAxiosError(error) ? error.request : undefined;
      const staleSocket =
        code === 'ECONNRESET' &&
        typeof request === 'object' &&
        request !== null &&
        (request as { reusedSocket?: boolean }).reusedSocket === true;
      return { kind: 'error', code: timedOut ? 'ETIMEDOUT' : code, timedOut, staleSocket };
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
