import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { AuditStreamConfig } from '@app/config';
import { Agent, request } from 'undici';
import { presentable } from '../audit-details-bound.js';
import type { AuditEventRecord } from '../audit-record.js';
import { toOcsf } from './ocsf.js';

/** The header carrying `sha256=<hex HMAC-SHA256 of the raw body>` (GitHub's webhook form). */
export const SIGNATURE_HEADER = 'x-broker-signature-256';

/** Where Linux distributions keep the system's CA bundle (Debian/Ubuntu/Alpine, RHEL/Fedora, others). */
const SYSTEM_CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/cert.pem',
];

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Node's own roots, the system's CA bundle (the first of `bundles` that exists) and the
 * NODE_EXTRA_CA_CERTS file, so a SIEM behind a company CA installed on the host, or named in
 * NODE_EXTRA_CA_CERTS, is trusted as curl would trust it. (Adding a certificate to a context
 * replaces Node's default store, which alone would have held the extra certificates, so both
 * files are added here.) Verification itself is never turned off.
 */
export function streamSecureContext(
  extraCaFile: string,
  bundles: readonly string[] = SYSTEM_CA_BUNDLES,
): SecureContext {
  const context = createSecureContext();
  const files = [bundles.find((file) => existsSync(file)), extraCaFile].filter((f): f is string => !!f);
  for (const file of files) {
    let pems: string[] = [];
    try {
      pems = readFileSync(file, 'utf8').match(PEM_CERT) ?? [];
    } catch {
      // An unreadable file: Node warns about NODE_EXTRA_CA_CERTS itself at start.
    }
    for (const pem of pems) {
      try {
        (context.context as { addCACert(pem: string): void }).addCACert(pem);
      } catch {
        // A certificate OpenSSL cannot parse is skipped, as curl does.
      }
    }
  }
  return context;
}

/**
 * The request body of one batch: one JSON object per line (OCSF events or the broker's records).
 * Details nested beyond the database's bound (only rows from before it) are sent as
 * DETAILS_OMITTED: JSON.stringify cannot write them, and a receiver's parser may not read them.
 */
export function encodeBatch(records: readonly AuditEventRecord[], format: AuditStreamConfig['format']): string {
  return records
    .map((record) => {
      const r = presentable(record);
      return `${JSON.stringify(format === 'ocsf' ? toOcsf(r) : r)}\n`;
    })
    .join('');
}

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Why a batch was not accepted, for the cursor row and the log (never the body or the secret). */
export class StreamDeliveryError extends Error {
  readonly code = 'audit_stream_delivery_failed';
}

/** Posts batches to the SIEM: signed, with a time limit, 2xx or it throws StreamDeliveryError. */
export class AuditStreamSender {
  private readonly agent: Agent;

  constructor(private readonly config: AuditStreamConfig) {
    this.agent = new Agent({
      connect: { secureContext: streamSecureContext(config.extraCaFile), timeout: config.timeoutMs },
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
  }

  async send(records: readonly AuditEventRecord[]): Promise<void> {
    const first = records[0];
    const last = records[records.length - 1];
    if (!first || !last) return;
    let body: string;
    try {
      body = encodeBatch(records, this.config.format);
    } catch (err) {
      // A batch that cannot be encoded (a RangeError: too long for one string, too deep) is a
      // failed delivery, recorded on the cursor like any other, never an unrecorded stall.
      const e = err as { name?: string; message?: string };
      throw new StreamDeliveryError(
        `cannot encode the batch of seq ${first.seq}..${last.seq}: ${e.name ?? 'Error'}: ${e.message ?? ''}`,
      );
    }
    let status: number;
    try {
      const res = await request(this.config.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/x-ndjson',
          [SIGNATURE_HEADER]: signBody(body, this.config.secret),
          'x-broker-stream-format': this.config.format,
          // Stable across retries: the service re-sends exactly the failed range (pending_last_seq).
          'idempotency-key': `audit-${first.seq}-${last.seq}`,
        },
        body,
        signal: AbortSignal.timeout(this.config.timeoutMs),
      });
      status = res.statusCode;
      await res.body.dump({ limit: 64 * 1024 });
    } catch (err) {
      const e = err as { code?: string; name?: string; message?: string };
      throw new StreamDeliveryError(`request failed: ${e.code ?? e.name ?? 'error'}`);
    }
    if (status < 200 || status > 299) throw new StreamDeliveryError(`receiver answered HTTP ${status}`);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
