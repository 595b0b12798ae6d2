import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `BROKER_METRICS_TOKEN`: what `/metrics` and the details of `/health/ready` ask of a caller when
 * it is set. Compared as digests, in constant time, so the token's length leaks nothing either.
 */
export class MetricsToken {
  private readonly digest: Buffer | null;

  constructor(token: string) {
    this.digest = token === '' ? null : digest(token);
  }

  /** Whether a token is configured at all (without one, metrics and details are open, as before). */
  get required(): boolean {
    return this.digest !== null;
  }

  /** Whether `authorization` is `Bearer <token>`; always true when no token is configured. */
  accepts(authorization: string | undefined): boolean {
    if (!this.digest) return true;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    return bearer !== null && timingSafeEqual(digest(bearer[1]), this.digest);
  }
}
