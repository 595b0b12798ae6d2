import { randomBase64url } from '@app/common';
import type { CookieOptions, Request } from 'express';

/**
 * The cookie that ties a login's state to the browser that started it (login CSRF defence), one
 * per browser so several tabs can sign in at once.
 *
 * Over HTTPS it is a `__Host-` cookie (Secure, Path=/, no Domain): browsers accept that name only
 * from this very host over HTTPS, so a sibling subdomain (`Domain=.example.com`) or anyone on a
 * plain-HTTP path cannot plant a value the attacker knows and so make the victim finish the
 * attacker's login. The plain name is read and written only when the broker is reached over
 * plain HTTP (local development), never over HTTPS.
 */
export const BINDING_COOKIE = 'sso_broker_login';
export const SECURE_BINDING_COOKIE = `__Host-${BINDING_COOKIE}`;

/** What the broker writes (24 random bytes, base64url); anything else is ignored and replaced. */
const BINDING_VALUE = /^[A-Za-z0-9_-]{32,64}$/;

/**
 * Whether the browser reaches the broker over HTTPS: the request says so (TLS here, or
 * `X-Forwarded-Proto: https` from a proxy in BROKER_TRUSTED_PROXIES), or the broker's public URL
 * is https, or the profile's CallbackBaseURL is (TLS ends at a proxy the broker was not told about:
 * the IdP sends the browser back over https, so the whole login is an HTTPS one). Decided from the
 * same profile on both hops, so the cookie set on the start is the one read on the callback.
 */
export function reachedOverHttps(req: Request, publicUrl: string, callbackBaseUrl = ''): boolean {
  // The URLs first: in production they are https, and `req.secure` evaluates the trusted-proxy
  // rules (parsing the peer's address) on every login hop.
  return /^https:/i.test(publicUrl) || /^https:/i.test(callbackBaseUrl) || req.secure;
}

/**
 * The binding value the browser holds under the name for this scheme, or undefined. Values are
 * compared as sent (the broker's own values need no URL decoding), so a malformed value such as
 * `%E0` is simply not a binding.
 */
export function readBinding(req: Request, https: boolean): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  const wanted = https ? SECURE_BINDING_COOKIE : BINDING_COOKIE;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || part.slice(0, eq).trim() !== wanted) continue;
    const value = part.slice(eq + 1).trim();
    if (BINDING_VALUE.test(value)) return value;
  }
  return undefined;
}

/** A fresh random binding value. */
export function newBinding(): string {
  return randomBase64url(24);
}

/** Name and options of the binding cookie: it lives as long as a login state may. */
export function bindingCookie(https: boolean, ttlSeconds: number): { name: string; options: CookieOptions } {
  return {
    name: https ? SECURE_BINDING_COOKIE : BINDING_COOKIE,
    options: { httpOnly: true, sameSite: 'lax', secure: https, path: '/', maxAge: ttlSeconds * 1000 },
  };
}
