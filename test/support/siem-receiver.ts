import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/** How the receiver answers the next request: accept, fail, be slow, or not listen at all. */
export type ReceiverMode = 'ok' | 'error500' | 'slow' | 'down';

export interface ReceivedBatch {
  lines: Record<string, unknown>[];
  signatureValid: boolean;
  headers: http.IncomingHttpHeaders;
  /** Answered 2xx at once (mode ok): the sender saw it accepted. */
  accepted: boolean;
  startedAt: number;
  endedAt: number;
}

/**
 * A SIEM's HTTP collector on loopback, with faults on demand: `down` closes the listening socket
 * (connection refused), `error500` answers 500, `slow` answers 200 only after `slowMs` (longer than
 * the sender waits). Every request body is kept, its HMAC checked with `secret`.
 */
export class SiemReceiver {
  readonly batches: ReceivedBatch[] = [];
  mode: ReceiverMode = 'ok';
  /** Requests answered so far per mode (to wait for "it has seen N failures"). */
  readonly answered: Record<ReceiverMode, number> = { ok: 0, error500: 0, slow: 0, down: 0 };
  slowMs = 1500;
  private server: http.Server;
  private port = 0;

  constructor(
    /** The HMAC key the signatures are checked with (a test rotating the secret changes it). */
    public secret: string,
    tls?: { cert: string; key: string },
  ) {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  }

  get url(): string {
    return `${this.server instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${this.port}/collector`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening (and drops open connections): the sender gets connection refused. */
  async goDown(): Promise<void> {
    this.mode = 'down';
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port, in `mode`. */
  async comeBack(mode: ReceiverMode): Promise<void> {
    this.mode = mode;
    await this.start();
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Ids (`metadata.uid` for OCSF, `id` for records) in the order they were first received. */
  firstSeenIds(): string[] {
    const seen = new Set<string>();
    for (const b of this.batches) for (const line of b.lines) seen.add(lineId(line));
    return [...seen];
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const startedAt = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const mode = this.mode;
      const batch: ReceivedBatch = {
        lines: body
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
        signatureValid: this.signatureValid(body, req.headers['x-broker-signature-256']),
        headers: req.headers,
        accepted: mode === 'ok',
        startedAt,
        endedAt: startedAt,
      };
      this.batches.push(batch);
      this.answered[mode] += 1;
      if (mode === 'error500') {
        res.writeHead(500).end('{"error":"collector unavailable"}');
      } else if (mode === 'slow') {
        setTimeout(() => res.writeHead(200).end(), this.slowMs).unref();
      } else {
        batch.endedAt = performance.now();
        res.writeHead(200).end('{}');
      }
    });
  }

  private signatureValid(body: string, header: string | string[] | undefined): boolean {
    if (typeof header !== 'string') return false;
    const expected = Buffer.from(`sha256=${createHmac('sha256', this.secret).update(body).digest('hex')}`);
    const got = Buffer.from(header);
    return got.length === expected.length && timingSafeEqual(got, expected);
  }
}

export function lineId(line: Record<string, unknown>): string {
  const meta = line.metadata as { uid?: string } | undefined;
  return String(meta?.uid ?? line.id);
}

/** Polls `check` every 50 ms until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
