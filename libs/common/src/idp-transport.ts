import { isIP } from 'node:net';

/** Whether a URL host names this machine: 127.0.0.0/8, ::1 or `localhost`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
  if (host === 'localhost') return true;
  switch (isIP(host)) {
    case 4:
      return host.startsWith('127.');
    case 6:
      return host === '::1';
    default:
      return false;
  }
}

/**
 * Whether the broker may talk to an identity provider at this URL: https, or plain http to a
 * loopback host (nobody else is on that path), or plain http anywhere when the operator allowed
 * it (a profile's `ProviderConfig.AllowInsecureHttp`). Anyone on a plain-http path could swap the
 * discovery document or the signing keys and so sign in as anybody.
 */
export function isAllowedIdpUrl(url: string, allowInsecureHttp: boolean): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol === 'https:') return true;
  return parsed.protocol === 'http:' && (allowInsecureHttp || isLoopbackHost(parsed.hostname));
}
