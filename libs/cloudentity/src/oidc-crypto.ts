import { createHash, timingSafeEqual } from 'node:crypto';
import { randomBase64url } from '@app/common';

/** 256 random bits, base64url (43 characters): used for state handles, nonces and PKCE verifiers. */
export function randomToken(): string {
  return randomBase64url(32);
}

/** The shape of every value randomToken() returns; anything else is rejected before a lookup. */
export const RANDOM_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** RFC 7636 S256 code challenge. */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** SHA-256 as lowercase hex. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Constant-time comparison of two strings (false when the lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined for HTTP
 * Basic. URLSearchParams applies exactly the application/x-www-form-urlencoded serializer.
 */
export function basicClientCredentials(clientId: string, clientSecret: string): string {
  const enc = (s: string) => new URLSearchParams([['', s]]).toString().slice(1);
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`, 'utf8').toString('base64')}`;
}

/** An IdP-supplied code (e.g. an OAuth `error` value) made safe to put into a message. */
export function safeCode(value: unknown): string {
  if (typeof value !== 'string') return 'unknown';
  const cleaned = value.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64);
  return cleaned === '' ? 'unknown' : cleaned;
}
