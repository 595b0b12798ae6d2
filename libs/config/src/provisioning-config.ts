/** The provisioning settings (SCIM tokens, the deprovisioning outbox, the inactivity policy). */
export interface ProvisioningConfig {
  /** `BROKER_SCIM_TOKENS` (`label:token,…`); empty turns `/scim/v2` off (503). */
  scimTokens: { label: string; token: string }[];
  /** `BROKER_DEPROVISION_INACTIVE_DAYS`: deactivate developers with no login for this long; 0 = off. */
  inactiveDays: number;
  /** How often the inactivity job runs (`BROKER_DEPROVISION_INACTIVE_INTERVAL_MS`). */
  inactiveIntervalMs: number;
  /** How often each instance looks at the outbox (`BROKER_DEPROVISION_POLL_MS`). */
  outboxPollMs: number;
  /** First retry delay after a failed portal update, doubled per attempt up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
}

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;
const TOKEN = /^[\x21-\x7e]{32,512}$/;

/**
 * `label:token` pairs. A label names the caller in the audit log (the token never appears); the
 * token is at least 32 printable characters. Problems name the pair by position, never the token.
 */
export function parseScimTokens(raw: string, problems: string[]): ProvisioningConfig['scimTokens'] {
  const out: ProvisioningConfig['scimTokens'] = [];
  if (raw.trim() === '') return out;
  raw.split(',').forEach((pair, i) => {
    const at = pair.indexOf(':');
    const label = at < 0 ? '' : pair.slice(0, at).trim();
    const token = at < 0 ? '' : pair.slice(at + 1).trim();
    if (!LABEL.test(label) || !TOKEN.test(token)) {
      problems.push(
        `BROKER_SCIM_TOKENS: pair ${i + 1}: expected label:token (label of letters, digits, . _ -; token of at least 32 printable characters, e.g. openssl rand -base64 32)`,
      );
    } else if (out.some((t) => t.label === label)) {
      problems.push(`BROKER_SCIM_TOKENS: pair ${i + 1}: the label ${label} is used twice`);
    } else {
      out.push({ label, token });
    }
  });
  return out;
}
