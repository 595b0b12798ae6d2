import { isIPv4, isIPv6 } from 'node:net';
import { Injectable, Logger } from '@nestjs/common';
import type { Request } from 'express';

/** Eight 16-bit groups of an IPv6 address (an embedded IPv4 tail and a zone id allowed), or null. */
function ipv6Groups(ip: string): number[] | null {
  let address = ip.split('%')[0];
  if (!isIPv6(address)) return null;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    address = `${address.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = address.split('::') as [string, string | undefined];
  const first = head === '' ? [] : head.split(':');
  const last = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined ? first : [...first, ...Array<string>(8 - first.length - last.length).fill('0'), ...last];
  return groups.length === 8 ? groups.map((g) => parseInt(g, 16)) : null;
}

/**
 * The rate-limit bucket of a client address: an IPv4 address as it is (also when written as an
 * IPv4-mapped IPv6 address), an IPv6 address by its /64. One subscriber or host gets a whole /64
 * and can pick any address in it, so counting per address would let it sidestep every limit.
 */
export function clientBucket(ip: string | undefined): string {
  if (!ip) return '';
  if (isIPv4(ip)) return ip;
  const groups = ipv6Groups(ip);
  if (!groups) return ip;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** At most one warning per this interval about X-Forwarded-For from an untrusted peer. */
const UNTRUSTED_FORWARD_WARNING_MS = 10 * 60_000;

/**
 * The client key the rate limits count by (Express `trust proxy` decides the client IP), and one
 * rate-limited warning when requests carry X-Forwarded-For from a peer that is not in
 * BROKER_TRUSTED_PROXIES: the header is then ignored, so every client behind that proxy or load
 * balancer shares one bucket.
 */
@Injectable()
export class ClientBuckets {
  private readonly logger = new Logger(ClientBuckets.name);
  private lastWarned = Number.NEGATIVE_INFINITY;

  bucket(req: Request): string {
    if (req.headers?.['x-forwarded-for'] !== undefined) this.checkForwarder(req);
    return clientBucket(req.ip);
  }

  private checkForwarder(req: Request): void {
    const now = Date.now();
    if (now - this.lastWarned < UNTRUSTED_FORWARD_WARNING_MS) return;
    const peer = req.socket?.remoteAddress ?? '';
    const trusts = req.app?.get('trust proxy fn') as ((address: string, hop: number) => boolean) | undefined;
    if (!trusts || trusts(peer, 0)) return;
    this.lastWarned = now;
    this.logger.warn(
      `Requests carry X-Forwarded-For from ${peer}, which is not in BROKER_TRUSTED_PROXIES: the header is ignored, ` +
        'so every client behind that proxy shares one rate-limit bucket (and the audit log records the proxy). ' +
        'Add the proxy to BROKER_TRUSTED_PROXIES. (Logged at most every 10 minutes.)',
    );
  }
}
