import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ALLOWED_JWS_ALGORITHMS } from './oidc-discovery.service.js';
import { KeySetUnavailableError } from './jwks.cache.js';

/** A token failed verification. `reason` is safe to log: it never contains the token or claims. */
export class JwtRejectedError extends Error {
  constructor(readonly reason: string) {
    super(`token rejected: ${reason}`);
    this.name = 'JwtRejectedError';
  }
}

/** Largest token we try to parse; real ID and access tokens are a few KB. */
const MAX_TOKEN_LENGTH = 16 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim} ${error.reason}`;
  if (error instanceof errors.JWTExpired) return `claim ${error.claim} expired`;
  if (error instanceof errors.JOSEError) return error.code;
  return 'malformed token';
}

/**
 * Verifies a compact JWS against an issuer's key set: signature with an allow-listed algorithm
 * (RS256, PS256, ES256: never `none`, never HMAC, so a token signed with the client secret is
 * refused), exact issuer, audience, the given required claims, and `iat` not in the future.
 * Throws KeySetUnavailableError when the keys cannot be fetched, JwtRejectedError otherwise.
 */
export async function verifySignedJwt(
  token: string,
  getKey: JWTVerifyGetKey,
  options: { issuer: string; audience: string; requiredClaims: string[]; clockToleranceSeconds: number },
): Promise<JWTPayload> {
  if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) {
    throw new JwtRejectedError('not a compact JWS');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, getKey, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: [...ALLOWED_JWS_ALGORITHMS],
      requiredClaims: options.requiredClaims,
      clockTolerance: options.clockToleranceSeconds,
    }));
  } catch (error: unknown) {
    if (error instanceof KeySetUnavailableError) throw error;
    throw new JwtRejectedError(reasonOf(error));
  }
  if (payload.iat !== undefined && payload.iat > Date.now() / 1000 + options.clockToleranceSeconds) {
    throw new JwtRejectedError('claim iat in the future');
  }
  if (payload.sub !== undefined && (typeof payload.sub !== 'string' || payload.sub === '')) {
    throw new JwtRejectedError('claim sub not a non-empty string');
  }
  return payload;
}
