import { unsafeTextReason } from '@app/common';
/** The provisioning settings (SCIM tokens, the deprovisioning outbox, the inactivity policy). */
export interface ProvisioningConfig {
  /** `BROKER_SCIM_TOKENS` (`label:token,…`); empty turns `/scim/v2` off (503). */
  scimTokens: { label: string; token: string }[];
  /**
   * `BROKER_SCIM_ISSUERS` (`label=issuer,…`): the IdP issuer each SCIM client is scoped to. A client
   * listed here links its users only to developers of that issuer and sees only its own users; a
   * client not listed is unscoped (links any issuer, sees every user).
   */
  scimIssuers: Record<string, string>;
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

/**
 * `label=issuer` pairs: each label one of BROKER_SCIM_TOKENS, each issuer an http(s) URL (compared
 * as a string with the ID token's `iss`, so it is written exactly as the IdP's discovery says).
 */
export function parseScimIssuers(
  raw: string,
  tokens: ProvisioningConfig['scimTokens'],
  problems: string[],
): ProvisioningConfig['scimIssuers'] {
  // No prototype: a label may be any name, `__proto__` included.
  const out: ProvisioningConfig['scimIssuers'] = Object.create(null) as ProvisioningConfig['scimIssuers'];
  if (raw.trim() === '') return out;
  raw.split(',').forEach((pair, i) => {
    const at = pair.indexOf('=');
    const label = at < 0 ? '' : pair.slice(0, at).trim();
    const issuer = at < 0 ? '' : pair.slice(at + 1).trim();
    const where = `BROKER_SCIM_ISSUERS: pair ${i + 1}`;
    if (!LABEL.test(label)) {
      problems.push(`${where}: expected label=issuer (a label of BROKER_SCIM_TOKENS, then the IdP's issuer URL)`);
    } else if (!tokens.some((t) => t.label === label)) {
      problems.push(`${where}: the label ${label} is not one of BROKER_SCIM_TOKENS`);
    } else if (Object.hasOwn(out, label)) {
      problems.push(`${where}: the label ${label} is used twice`);
    } else if (!isHttpUrl(issuer)) {
      problems.push(
        `${where}: the issuer of ${label} must be an http(s) URL (the IdP's iss), got ${JSON.stringify(issuer.slice(0, 200))}`,
      );
    } else if (unsafeTextReason(issuer) !== null) {
      // Compared with developers' issuers in SQL: text Postgres cannot hold would fail every link.
      problems.push(`${where}: the issuer of ${label} ${unsafeTextReason(issuer)}`);
    } else {
      out[label] = issuer;
    }
  });
  return out;
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.host !== '';
  } catch {
    return false;
  }
}
