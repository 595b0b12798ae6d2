import type { BrokerConfig } from './broker-config.js';

/** Shorter than this is guessable; the same floor TIB deployments are told to use for their secrets. */
export const MIN_SECRET_LENGTH = 16;

const HOW_TO_GENERATE = 'generate one with `openssl rand -base64 32`';

/** Values copied from examples and guides instead of generated ("change-me…", "your-…-secret"). */
const PLACEHOLDER = /change[-_. ]?me|changeit|^(your|my)[-_ ]|^(secret|password|admin|test|default)$/i;

export interface SecretFindings {
  /** Stop the start: each names the variable and says how to fix it (never the value). */
  problems: string[];
  /** One line each, logged at start-up as warnings. */
  warnings: string[];
}

function weakness(value: string): string | null {
  if (PLACEHOLDER.test(value)) return 'is a placeholder from an example';
  if (value.length < MIN_SECRET_LENGTH) return `is shorter than ${MIN_SECRET_LENGTH} characters`;
  return null;
}

/**
 * The rules for configured secrets (issue 13): a session secret shorter than 16 characters always
 * stops the start (it keys stored tokens and cursors); a placeholder or short secret stops it when
 * NODE_ENV=production and is one warning otherwise; a missing session secret is one warning saying
 * what it breaks. Messages name the variable, never the value.
 */
export function checkSecrets(config: BrokerConfig, production: boolean): SecretFindings {
  const problems: string[] = [];
  const warnings: string[] = [];
  const session = config.sessionSecret;
  if (session === '') {
    warnings.push(
      'TYK_IB_SESSION_SECRET is not set: a random key is used for this process only, so stored tokens (revocation ' +
        'of the previous key or OAuth token) and page cursors do not survive a restart and do not work across ' +
        `instances; set the same value on every instance (${HOW_TO_GENERATE})`,
    );
  } else if (session.length < MIN_SECRET_LENGTH) {
    problems.push(
      `TYK_IB_SESSION_SECRET: expected at least ${MIN_SECRET_LENGTH} characters, got ${session.length}; ${HOW_TO_GENERATE}`,
    );
  }
  const named: [string, string][] = [
    ['TYK_IB_SECRET (Secret)', config.secret],
    ['TYK_IB_SESSION_SECRET', session.length < MIN_SECRET_LENGTH ? '' : session],
    ['TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ADMINSECRET', config.tykApi.dashboard.adminSecret],
    ['TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_ADMINSECRET', config.tykApi.gateway.adminSecret],
    ['TYK_PORTAL_ADMIN_TOKEN', config.portal.adminToken],
    ['BROKER_METRICS_TOKEN', config.metrics.token],
  ];
  const weak = named.flatMap(([name, value]) => {
    const why = value === '' ? null : weakness(value);
    return why ? [`${name} ${why}`] : [];
  });
  if (weak.length > 0 && production) {
    problems.push(...weak.map((w) => `${w}; NODE_ENV=production refuses weak secrets: ${HOW_TO_GENERATE}`));
  } else if (weak.length > 0) {
    warnings.push(
      `Weak secrets (refused when NODE_ENV=production): ${weak.join('; ')}. Replace each: ${HOW_TO_GENERATE}`,
    );
  }
  return { problems, warnings };
}
