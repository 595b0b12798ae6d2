import { randomFillSync } from 'node:crypto';

/** Random bytes are drawn 4 KiB at a time (one CSPRNG call per ~128 nonces); each byte is used once. */
const randomPool = Buffer.alloc(4096);
let randomPoolOffset = randomPool.length;

/** A base64url token of `bytes` random bytes (at most 4096). */
export function randomToken(bytes: number): string {
  if (randomPoolOffset + bytes > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  const out = randomPool.toString('base64url', randomPoolOffset, randomPoolOffset + bytes);
  randomPoolOffset += bytes;
  return out;
}
