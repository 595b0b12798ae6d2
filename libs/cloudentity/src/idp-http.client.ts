import { oidcConfig, type OidcConfig } from '@app/config';
import { Inject, Injectable, Optional, type OnModuleDestroy } from '@nestjs/common';
import { upstreamAgent } from '@app/common';
import { request as undiciRequest, type Agent } from 'undici';

export interface IdpResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * The IdP could not be reached or did not answer in time. Carries no request data: HTTP client
 * errors may hold request details (client secret, code, verifier), so they never leave here.
 */
export class IdpUnreachableError extends Error {
  constructor(readonly reason: 'timeout' | 'network' | 'too_large') {
    super(`identity provider unreachable (${reason})`);
    this.name = 'IdpUnreachableError';
  }
}

/** Largest IdP response we read (discovery, JWKS, token, userinfo are all a few KB). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Which of an IdP's endpoints a call went to: a metrics label that names no host or path. */
export type IdpEndpointKind = 'discovery' | 'jwks' | 'token' | 'userinfo';

/** One exchange with an IdP, for metrics. `endpoint` is the URL without its query. */
/** Injection token of the optional {@link IdpCallObserver} (metrics hook; see CloudentityModule.forRoot). */
export const IDP_CALL_OBSERVER = Symbol('IDP_CALL_OBSERVER');

/** Receives every IdP call's outcome; the broker wires it to Prometheus. Must not throw. */
export type IdpCallObserver = (event: IdpCallEvent) => void;

export interface IdpCallEvent {
  method: string;
  endpoint: string;
  kind: IdpEndpointKind;
  status: number | 'error';
  ms: number;
}

/**
 * Every HTTP call to an identity provider goes through here: one timeout (config.timeoutMs), both
 * for idleness and as the deadline for the whole call (body included), TLS verification unless config.sslInsecureSkipVerify, keep-alive connections shared by all
 * requests, no redirects (a token request must never be replayed to another host), no ambient
 * proxy variables, bounded bodies, and the raw body returned as text so callers parse strictly.
 *
 * undici rather than axios: the token exchange is on every login, and axios cost 430–590 µs of
 * CPU per call on the 2-core bench machine against ~105 µs for undici (issue 8).
 */
@Injectable()
export class IdpHttpClient implements OnModuleDestroy {
  private readonly agent: Agent;

  constructor(
    @Inject(oidcConfig.KEY) private readonly config: OidcConfig,
    @Optional() @Inject(IDP_CALL_OBSERVER) private readonly observer?: IdpCallObserver | null,
  ) {
    this.agent = upstreamAgent({
      connections: 64,
      timeoutMs: config.timeoutMs,
      maxResponseSize: MAX_BODY_BYTES,
      verifyTls: !config.sslInsecureSkipVerify,
    });
  }

  /**
   * The broker calls an IdP in four ways only: the token request is the one POST, userinfo the one
   * GET with a bearer token, discovery the well-known document, JWKS any other GET.
   */
  private static kindOf(method: string, url: string, headers: Record<string, string> | undefined): IdpEndpointKind {
    if (method === 'POST') return 'token';
    if (Object.keys(headers ?? {}).some((h) => h.toLowerCase() === 'authorization')) return 'userinfo';
    return /\/\.well-known\/openid-configuration(?:[?#]|$)/.test(url) ? 'discovery' : 'jwks';
  }

  private report(
    method: string,
    url: string,
    headers: Record<string, string> | undefined,
    status: number | 'error',
    started: number,
  ): void {
    if (!this.observer) return;
    let endpoint = url;
    try {
      const u = new URL(url);
      endpoint = `${u.origin}${u.pathname}`;
    } catch {
      // keep the raw URL
    }
    const event = {
      method,
      endpoint,
      kind: IdpHttpClient.kindOf(method, url, headers),
      status,
      ms: performance.now() - started,
    };
    try {
      this.observer(event);
    } catch {
      // metrics must never break a login
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.agent.destroy();
  }

  async request(options: {
    method: 'GET' | 'POST';
    url: string;
    headers?: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
  }): Promise<IdpResponse> {
    const started = performance.now();
    // The agent's timeouts measure idle time only: an IdP that dribbles its answer a byte at a
    // time just under the timeout restarts them and holds the call (and, for discovery, every
    // login waiting on the shared fetch) for as long as it likes. This is the deadline for the
    // whole call, body included. A timer cleared when the call ends, not AbortSignal.timeout,
    // whose timer and signal live on for the whole timeout after every call (see TykHttp).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.config.timeoutMs);
    // A caller's signal (jose's, for JWKS) ends the call too: a listener removed when the call ends,
    // not AbortSignal.any, which keeps every combined signal alive as long as the caller's.
    const callerSignal = options.signal;
    const onCallerAbort = () => deadline.abort();
    if (callerSignal?.aborted) deadline.abort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const signal = deadline.signal;
    try {
      const res = await undiciRequest(options.url, {
        method: options.method,
        headers: options.headers,
        body: options.body,
        signal,
        dispatcher: this.agent,
      });
      const body = await res.body.text();
      this.report(options.method, options.url, options.headers, res.statusCode, started);
      const contentType = res.headers['content-type'];
      return {
        status: res.statusCode,
        contentType: typeof contentType === 'string' ? contentType.toLowerCase() : '',
        body,
      };
    } catch (error: unknown) {
      this.report(options.method, options.url, options.headers, 'error', started);
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') throw new IdpUnreachableError('too_large');
      if (
        signal.aborted ||
        code === 'UND_ERR_HEADERS_TIMEOUT' ||
        code === 'UND_ERR_BODY_TIMEOUT' ||
        code === 'UND_ERR_CONNECT_TIMEOUT'
      ) {
        throw new IdpUnreachableError('timeout');
      }
      throw new IdpUnreachableError('network');
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
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
