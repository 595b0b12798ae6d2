import { decodeProtectedHeader, errors, jwtVerify, UnsecuredJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
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
  const extra = extraClaimsRejected(payload, options.clockToleranceSeconds);
  if (extra) throw new JwtRejectedError(extra);
  return payload;
}

/**
 * OpenID Connect Core §3.1.3.7 (4, 5) for an ID token already verified with `aud` containing our
 * client: several audiences need an `azp`, and an `azp` (when present) must be our client. Returns
 * why the token is refused, or null. Not for access tokens, whose `azp` names the requesting client.
 */
export function authorizedPartyRejected(claims: JWTPayload, clientId: string): string | null {
  if ((Array.isArray(claims.aud) && claims.aud.length > 1) || claims.azp !== undefined) {
    if (claims.azp !== clientId) return 'azp not our client';
  }
  return null;
}

/** Our checks beyond jose's: `iat` not in the future, `sub` (when present) a non-empty string. */
function extraClaimsRejected(payload: JWTPayload, clockToleranceSeconds: number): string | null {
  if (payload.iat !== undefined && payload.iat > Date.now() / 1000 + clockToleranceSeconds) {
    return 'claim iat in the future';
  }
  if (payload.sub !== undefined && (typeof payload.sub !== 'string' || payload.sub === '')) {
    return 'claim sub not a non-empty string';
  }
  return null;
}

/**
 * Whether a signature of this many bytes can be valid for the algorithm: RSA signatures are as
 * long as the modulus, and jose refuses RSA keys under 2048 bits; an ES256 (P-256) signature is
 * exactly 64 bytes.
 */
const SIGNATURE_LENGTH_FITS: Record<(typeof ALLOWED_JWS_ALGORITHMS)[number], (bytes: number) => boolean> = {
  RS256: (bytes) => bytes >= 256,
  PS256: (bytes) => bytes >= 256,
  ES256: (bytes) => bytes === 64,
};

/** The header jose's claim checks get (they read only `typ`, which we do not ask for). */
const UNSECURED_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');

/**
 * Why verifySignedJwt with these options would refuse the token whatever the issuer's keys are,
 * or null when only the signature can tell. Decided without any key or network call: the shape, a
 * header that parses with an allow-listed `alg`, a signature of a length that algorithm can
 * produce, and the claims (jose's own checks, run on the payload as an unsecured JWT: JSON object,
 * required claims, issuer, audience, `exp`, `nbf`; then ours). It never refuses a token that
 * verifySignedJwt would accept: everything it checks, verifySignedJwt checks the same way.
 * `issuers`: every issuer the verification may be given (the discovery document names it).
 */
export function locallyRejected(
  token: string,
  options: { issuers: string[]; audience: string; requiredClaims: string[]; clockToleranceSeconds: number },
): string | null {
  if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return 'not a compact JWS';
  const [, payload, signature] = token.split('.');
  let alg: unknown;
  try {
    ({ alg } = decodeProtectedHeader(token));
  } catch {
    return 'malformed header';
  }
  if (typeof alg !== 'string' || !Object.hasOwn(SIGNATURE_LENGTH_FITS, alg)) return 'alg not allowed';
  if (!SIGNATURE_LENGTH_FITS[alg as keyof typeof SIGNATURE_LENGTH_FITS](Buffer.from(signature, 'base64url').length)) {
    return 'signature of an impossible length';
  }
  let claims: JWTPayload;
  try {
    ({ payload: claims } = UnsecuredJWT.decode(`${UNSECURED_HEADER}.${payload}.`, {
      issuer: options.issuers,
      audience: options.audience,
      requiredClaims: options.requiredClaims,
      clockTolerance: options.clockToleranceSeconds,
    }));
  } catch (error: unknown) {
    return reasonOf(error);
  }
  return extraClaimsRejected(claims, options.clockToleranceSeconds);
}
