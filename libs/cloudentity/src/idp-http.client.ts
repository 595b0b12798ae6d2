import http from 'node:http';
import https from 'node:https';
import { BROKER_CONFIG, type BrokerConfig } from '@app/config';
import { HttpService } from '@nestjs/axios';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { isAxiosError } from 'axios';

export interface IdpResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * The IdP could not be reached or did not answer in time. Carries no request data: axios errors
 * hold the request headers and body (client secret, code, verifier), so they never leave here.
 */
export class IdpUnreachableError extends Error {
  constructor(readonly reason: 'timeout' | 'network' | 'too_large') {
    super(`identity provider unreachable (${reason})`);
    this.name = 'IdpUnreachableError';
  }
}

/** Largest IdP response we read (discovery, JWKS, token, userinfo are all a few KB). */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Every HTTP call to an identity provider goes through here (@nestjs/axios): one timeout
 * (config.oidc.timeoutMs), TLS verification unless config.sslInsecureSkipVerify, keep-alive
 * agents shared by all requests, no redirects (a token request must never be replayed to
 * another host), bounded bodies, and the raw body returned as text so callers parse strictly.
 */
/** One exchange with an IdP, for metrics. `endpoint` is the URL without its query. */
export interface IdpCallEvent {
  method: string;
  endpoint: string;
  status: number | 'error';
  ms: number;
}

@Injectable()
export class IdpHttpClient implements OnModuleDestroy {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  private readonly observers: ((e: IdpCallEvent) => void)[] = [];
  private readonly httpsAgent: https.Agent;

  constructor(
    private readonly http: HttpService,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      rejectUnauthorized: !config.sslInsecureSkipVerify,
    });
  }

  /** Registers a listener told of every call's outcome (the broker's Prometheus histograms). */
  onCall(listener: (e: IdpCallEvent) => void): void {
    this.observers.push(listener);
  }

  private report(method: string, url: string, status: number | 'error', started: number): void {
    if (this.observers.length === 0) return;
    let endpoint = url;
    try {
      const u = new URL(url);
      endpoint = `${u.origin}${u.pathname}`;
    } catch {
      // keep the raw URL
    }
    const event = { method, endpoint, status, ms: performance.now() - started };
    for (const listener of this.observers) {
      try {
        listener(event);
      } catch {
        // metrics must never break a login
      }
    }
  }

  onModuleDestroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  async request(options: {
    method: 'GET' | 'POST';
    url: string;
    headers?: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
  }): Promise<IdpResponse> {
    const started = performance.now();
    try {
      const res = await this.http.axiosRef.request<string>({
        method: options.method,
        url: options.url,
        headers: options.headers,
        data: options.body,
        signal: options.signal,
        timeout: this.config.oidc.timeoutMs,
        httpAgent: this.httpAgent,
        httpsAgent: this.httpsAgent,
        maxRedirects: 0,
        maxContentLength: MAX_BODY_BYTES,
        maxBodyLength: MAX_BODY_BYTES,
        responseType: 'text',
        transformResponse: [(data: unknown) => data],
        validateStatus: () => true,
        // Configuration says which hosts we talk to; no ambient proxy settings.
        proxy: false,
      });
      const contentType = res.headers['content-type'];
      this.report(options.method, options.url, res.status, started);
      return {
        status: res.status,
        contentType: typeof contentType === 'string' ? contentType.toLowerCase() : '',
        body: typeof res.data === 'string' ? res.data : '',
      };
    } catch (error: unknown) {
      this.report(options.method, options.url, 'error', started);
      if (isAxiosError(error)) {
        if (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT' || error.code === 'ERR_CANCELED') {
          throw new IdpUnreachableError('timeout');
        }
        if (error.code === 'ERR_BAD_RESPONSE' && /maxContentLength/.test(error.message)) {
          throw new IdpUnreachableError('too_large');
        }
      }
      throw new IdpUnreachableError('network');
    }
  }
}

/** A JSON object from a response body, or undefined when the body is not one. */
export function parseJsonObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
