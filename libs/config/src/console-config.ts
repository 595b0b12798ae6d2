/** The security console at /console (issue 17). Enabled when a client id is set. */
export interface ConsoleConfig {
  /** BROKER_CONSOLE_CLIENT_ID: the console's own client at BROKER_ADMIN_OIDC_ISSUER. */
  clientId: string;
  /** BROKER_CONSOLE_CLIENT_SECRET (client_secret_basic at the token endpoint). */
  clientSecret: string;
  /** BROKER_CONSOLE_IDLE_MINUTES: a session unused this long ends. */
  idleMinutes: number;
  /** BROKER_CONSOLE_ABSOLUTE_HOURS: a session ends this long after sign-in, used or not. */
  absoluteHours: number;
}

function intFrom(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  max: number,
  problems: string[],
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) {
    problems.push(`${name}: expected a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  return n;
}

/** Reads the BROKER_CONSOLE_* block; `adminIssuer` is BROKER_ADMIN_OIDC_ISSUER (the console signs in there). */
export function loadConsoleConfig(
  env: Record<string, string | undefined>,
  adminIssuer: string,
): { config: ConsoleConfig; problems: string[] } {
  const problems: string[] = [];
  const clientId = env.BROKER_CONSOLE_CLIENT_ID ?? '';
  const clientSecret = env.BROKER_CONSOLE_CLIENT_SECRET ?? '';
  if (clientId !== '' && adminIssuer === '') {
    problems.push('BROKER_CONSOLE_CLIENT_ID: the console signs in at BROKER_ADMIN_OIDC_ISSUER, which is not set');
  }
  if (clientId !== '' && clientSecret === '') {
    problems.push(
      'BROKER_CONSOLE_CLIENT_SECRET: expected the console client’s secret when BROKER_CONSOLE_CLIENT_ID is set',
    );
  }
  const config: ConsoleConfig = {
    clientId,
    clientSecret,
    idleMinutes: intFrom(env, 'BROKER_CONSOLE_IDLE_MINUTES', 30, 24 * 60, problems),
    absoluteHours: intFrom(env, 'BROKER_CONSOLE_ABSOLUTE_HOURS', 8, 24 * 7, problems),
  };
  return { config, problems };
}
