import { randomFillSync } from 'node:crypto';

/** How many random bytes one refill draws from the operating system's CSPRNG. */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * `bytes` fresh random bytes from the CSPRNG (node:crypto, as randomBytes), base64url-encoded.
 * The bytes are drawn 4 KiB at a time and every byte is handed out once, as Node's own
 * randomUUID() does: a login needs several tokens (state, nonce, PKCE verifier, browser binding)
 * and one randomFillSync per token was about 1 % of the broker's CPU per login (issue 19).
 */
export function randomBase64url(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL_BYTES) {
    throw new RangeError(`randomBase64url: ${bytes} bytes is not between 1 and ${POOL_BYTES}`);
  }
  if (offset + bytes > pool.length) {
    // A new buffer, never a refill in place: a string already returned cannot share its bytes.
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const token = pool.toString('base64url', offset, offset + bytes);
  // The used bytes are zeroed so that a heap dump shows only tokens still in use elsewhere.
  pool.fill(0, offset, offset + bytes);
  offset += bytes;
  return token;
}
