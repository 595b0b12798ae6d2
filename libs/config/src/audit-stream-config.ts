import { isLoopbackHost } from '@app/common';

/** Streaming the audit log to a SIEM (issue 17). Disabled when `url` is empty. */
export interface AuditStreamConfig {
  /** BROKER_AUDIT_STREAM_URL: https (verified), or plain http only to a loopback host. */
  url: string;
  /** BROKER_AUDIT_STREAM_FORMAT: `ocsf` (OCSF 1.x events) or `ndjson` (the broker's own records). */
  format: 'ocsf' | 'ndjson';
  /** BROKER_AUDIT_STREAM_SECRET: HMAC-SHA256 key of the `X-Broker-Signature-256` header. */
  secret: string;
  /**
   * BROKER_AUDIT_STREAM_SECRET_PREVIOUS: the secret before a rotation ('' when none). A cursor
   * signed with it is taken over (re-signed with the current one) instead of read as tampering;
   * batches are signed with the current secret only.
   */
  previousSecret: string;
  /** BROKER_AUDIT_STREAM_BATCH_SIZE: events per POST. */
  batchSize: number;
  /** BROKER_AUDIT_STREAM_INTERVAL_MS: how often an idle sender looks for new events. */
  intervalMs: number;
  /** BROKER_AUDIT_STREAM_TIMEOUT_MS: one POST, connect to last byte. */
  timeoutMs: number;
  /** BROKER_AUDIT_STREAM_MAX_BACKOFF_MS: the cap of the exponential backoff after failures. */
  maxBackoffMs: number;
  /**
   * NODE_EXTRA_CA_CERTS: Node adds it to its default trust, but not to a context that also takes
   * the system bundle, so the sender adds it itself.
   */
  extraCaFile: string;
}

const MIN_SECRET = 16;

function intFrom(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  return n;
}

/**
 * Reads the BROKER_AUDIT_STREAM_* block (the broker's own names: no tib.conf key). Each problem
 * names the variable, never a secret's value.
 */
export function loadAuditStreamConfig(env: Record<string, string | undefined>): {
  config: AuditStreamConfig;
  problems: string[];
} {
  const problems: string[] = [];
  const url = env.BROKER_AUDIT_STREAM_URL ?? '';
  if (url !== '') {
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      problems.push(`BROKER_AUDIT_STREAM_URL: expected an https URL, got ${JSON.stringify(url)}`);
    }
    if (parsed && parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname))) {
      problems.push(
        `BROKER_AUDIT_STREAM_URL: expected an https URL (plain http only to a loopback host), got ${JSON.stringify(url)}`,
      );
    }
    if (parsed && (parsed.username !== '' || parsed.password !== '')) {
      problems.push('BROKER_AUDIT_STREAM_URL: credentials in the URL are not accepted; the batches are signed instead');
    }
  }
  const rawFormat = env.BROKER_AUDIT_STREAM_FORMAT ?? '';
  let format: AuditStreamConfig['format'] = 'ocsf';
  if (rawFormat === 'ndjson' || rawFormat === 'ocsf') format = rawFormat;
  else if (rawFormat !== '') {
    problems.push(`BROKER_AUDIT_STREAM_FORMAT: expected ocsf or ndjson, got ${JSON.stringify(rawFormat)}`);
  }
  const secret = env.BROKER_AUDIT_STREAM_SECRET ?? '';
  if (url !== '' && secret.length < MIN_SECRET) {
    problems.push(
      `BROKER_AUDIT_STREAM_SECRET: expected at least ${MIN_SECRET} characters when BROKER_AUDIT_STREAM_URL is set ` +
        '(the receiver checks the HMAC signature with it); generate one with `openssl rand -base64 32`',
    );
  }
  const previousSecret = env.BROKER_AUDIT_STREAM_SECRET_PREVIOUS ?? '';
  if (previousSecret !== '' && previousSecret.length < MIN_SECRET) {
    problems.push(
      `BROKER_AUDIT_STREAM_SECRET_PREVIOUS: expected at least ${MIN_SECRET} characters (the secret before the current one), or unset`,
    );
  } else if (previousSecret !== '' && previousSecret === secret) {
    problems.push(
      'BROKER_AUDIT_STREAM_SECRET_PREVIOUS: is the same as BROKER_AUDIT_STREAM_SECRET; set it to the secret before the rotation, or unset it',
    );
  }
  const config: AuditStreamConfig = {
    url,
    format,
    secret,
    previousSecret,
    batchSize: intFrom(env, 'BROKER_AUDIT_STREAM_BATCH_SIZE', 500, 1, 10_000, problems),
    intervalMs: intFrom(env, 'BROKER_AUDIT_STREAM_INTERVAL_MS', 1000, 50, 60_000, problems),
    timeoutMs: intFrom(env, 'BROKER_AUDIT_STREAM_TIMEOUT_MS', 10_000, 100, 120_000, problems),
    maxBackoffMs: intFrom(env, 'BROKER_AUDIT_STREAM_MAX_BACKOFF_MS', 60_000, 100, 3_600_000, problems),
    extraCaFile: env.NODE_EXTRA_CA_CERTS ?? '',
  };
  return { config, problems };
}
