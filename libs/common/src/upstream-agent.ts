import { Agent } from 'undici';

/**
 * The keep-alive connection pool of one upstream (the IdP, the portal): one deadline for opening
 * a connection, for the answer's headers and between body chunks. These measure idle time only (a
 * body dripped slowly, or repeated 1xx answers, restart them): a caller that needs a total
 * deadline per request passes an AbortSignal (TykHttp does); an answer larger than
 * `maxResponseSize` is refused (`UND_ERR_RES_EXCEEDED_MAX_SIZE`); TLS certificates verified
 * unless `verifyTls` is false. undici follows no redirects and reads no proxy variables.
 */
export function upstreamAgent(options: {
  connections: number;
  timeoutMs: number;
  maxResponseSize: number;
  verifyTls: boolean;
}): Agent {
  return new Agent({
    connections: options.connections,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    maxResponseSize: options.maxResponseSize,
    connect: { rejectUnauthorized: options.verifyTls, timeout: options.timeoutMs },
  });
}
