import { clipText, getPathCaseInsensitive, goFoldName, isAllowedIdpUrl } from '@app/common';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { loadAuditStreamConfig, type AuditStreamConfig } from './audit-stream-config.js';
import { loadConsoleConfig, type ConsoleConfig } from './console-config.js';
import { parseScimIssuers, parseScimTokens, type ProvisioningConfig } from './provisioning-config.js';
import { checkSecrets } from './secret-rules.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface TykEndpointConfig {
  /** Scheme and host, no trailing slash, no port (TIB builds `Endpoint + ":" + Port + path`). */
  endpoint: string;
  port: string;
  adminSecret: string;
}

/** The broker's whole configuration, validated once at start-up; libs inject its slices (config-slices.ts). */
export interface BrokerConfig {
  /** TIB `Secret`: the admin API secret. Empty disables the admin API (503), unlike TIB. */
  secret: string;
  port: number;
  host: string;
  /** Public base URL of this broker, e.g. for links on its own pages. */
  publicUrl: string;
  httpServerOptions: { useSSL: boolean; certFile: string; keyFile: string; sslInsecureSkipVerify: boolean };
  /** Skip TLS verification towards the IdP and the portal. */
  sslInsecureSkipVerify: boolean;
  tykApi: { dashboard: TykEndpointConfig; gateway: TykEndpointConfig };
  sessionSecret: string;
  logLevel: LogLevel;
  /** A TIB profiles.json imported at start-up (`-p`, `--profiles`, `TYK_IB_PROFILES`). */
  profilesFile: string;
  configFile: string | null;
  dataDir: string;
  bodyLimitBytes: number;
  trustedProxies: string[];
  /**
   * `url`: the broker's runtime role. `migrationUrl`: the owner role that runs the migrations and
   * owns the tables (DATABASE_MIGRATION_URL); null = migrations run with `url` (one role: weak).
   */
  database: { url: string | null; migrationUrl: string | null; poolSize: number };
  portal: { adminToken: string; timeoutMs: number; retries: number };
  oidc: { timeoutMs: number; discoveryTtlSeconds: number; loginStateTtlSeconds: number; clockToleranceSeconds: number };
  /** `allowInsecureHttp`: plain http to a non-loopback issuer (BROKER_ADMIN_OIDC_ALLOW_INSECURE_HTTP). */
  adminOidc: { issuer: string; audience: string; rolesClaim: string; allowInsecureHttp: boolean };
  audit: {
    retentionDays: number;
    sealIntervalMs: number;
    /** BROKER_AUDIT_SIGNING_KEY_FILE: PEM or JWK private key (Ed25519 or ES256) signing checkpoints. */
    signingKeyFile: string;
    /**
     * BROKER_AUDIT_TRUSTED_KEYS_FILE: a JWKS of earlier signing keys' public halves ('' = none). Only
     * these and the key in hand are trusted for the newest checkpoint, never audit_signing_keys.
     */
    trustedKeysFile: string;
    /** false only with BROKER_AUDIT_SIGNING=off: no checkpoints are signed. */
    signing: boolean;
    /** BROKER_AUDIT_CHECKPOINT_DIR: also write each checkpoint there as a file ('' = not). */
    checkpointDir: string;
    /** A checkpoint at least every this many sealed events or this interval. */
    checkpointEvery: number;
    checkpointIntervalMs: number;
    /** BROKER_AUDIT_FULL_VERIFY_HOURS: the scheduled full verify (0 = never). */
    fullVerifyHours: number;
    /**
     * BROKER_AUDIT_VERIFY_CONCURRENCY: verifies of any kind (full, routine, range) one process runs
     * on demand at once; more are refused with `verify_running`. Each holds a pool connection.
     */
    verifyConcurrency: number;
    /**
     * BROKER_AUDIT_SEALER_STALLED_SECONDS: /health/ready reports the sealer `stalled` once the oldest
     * unsealed event is older than this (readiness itself stays 200).
     */
    sealerStalledSeconds: number;
  };
  /** NODE_ENV=production (the Docker image sets it). */
  production: boolean;
  /**
   * BROKER_WORKERS: worker processes behind the one port (node:cluster); 1 = no cluster, one process.
   * `auto` = the machine's cores (os.availableParallelism(), at most MAX_WORKERS).
   */
  workers: number;
  /**
   * Per client IP, for the whole broker; 0 disables. The server and admin config slices give each
   * BROKER_WORKERS worker its share.
   */
  rateLimit: { loginPerMinute: number; adminFailuresPerMinute: number };
  /** `BROKER_METRICS_TOKEN`: when set, `/metrics` answers only `Authorization: Bearer <token>`. */
  metrics: { token: string };
  /** BROKER_AUDIT_STREAM_*: the SIEM stream (audit-stream-config.ts). */
  auditStream: AuditStreamConfig;
  /** BROKER_CONSOLE_*: the security console (console-config.ts). */
  console: ConsoleConfig;
  provisioning: ProvisioningConfig;
}

export interface ConfigLoadResult {
  config: BrokerConfig;
  /** Informational lines for the start-up log (e.g. TIB keys accepted and ignored). */
  notices: string[];
  /** Lines for the start-up log at warn level (weak or missing secrets outside production). */
  warnings: string[];
}

/**
 * The portal management API token: TYK_PORTAL_ADMIN_TOKEN, or the contents of the file named by
 * TYK_PORTAL_ADMIN_TOKEN_FILE (how the compose stack's one-shot portal bootstrap hands it over).
 */
function portalAdminToken(r: Reader, cwd: string): string {
  const direct = r.string(['TYK_PORTAL_ADMIN_TOKEN'], null, '');
  const file = r.string(['TYK_PORTAL_ADMIN_TOKEN_FILE'], null, '');
  if (file === '') return direct;
  if (direct !== '') {
    r.problems.push('TYK_PORTAL_ADMIN_TOKEN_FILE: set either it or TYK_PORTAL_ADMIN_TOKEN, not both');
    return direct;
  }
  let token: string;
  try {
    token = readFileSync(path.resolve(cwd, file), 'utf8').trim();
  } catch (e) {
    r.problems.push(
      `TYK_PORTAL_ADMIN_TOKEN_FILE: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
    return '';
  }
  if (token === '') r.problems.push(`TYK_PORTAL_ADMIN_TOKEN_FILE: ${file} is empty`);
  return token;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export interface ConfigSources {
  env: Record<string, string | undefined>;
  argv?: readonly string[];
  cwd?: string;
}

type Json = Record<string, unknown>;

/** tib.conf keys the broker reads; anything else at the top level is accepted and ignored. */
const USED_TOP_LEVEL_KEYS = ['SECRET', 'PORT', 'HTTPSERVEROPTIONS', 'SSLINSECURESKIPVERIFY', 'TYKAPISETTINGS'];

function argValue(argv: readonly string[], names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    for (const name of names) {
      if (arg === name && i + 1 < argv.length) {
        return argv[i + 1];
      }
      if (arg.startsWith(`${name}=`)) {
        return arg.slice(name.length + 1);
      }
    }
  }
  return undefined;
}

/** Go's strconv.ParseBool. */
function parseGoBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
}

class Reader {
  readonly problems: string[] = [];

  constructor(
    private readonly env: Record<string, string | undefined>,
    private readonly file: Json | null,
    private readonly fileName: string,
  ) {}

  private lookup(
    envNames: string[],
    confPath: string[] | null,
  ): { raw: unknown; source: string; fromFile: boolean } | undefined {
    for (const name of envNames) {
      const v = this.env[name];
      if (v !== undefined && v !== '') {
        return { raw: v, source: name, fromFile: false };
      }
    }
    if (confPath && this.file) {
      const v = getPathCaseInsensitive(this.file, ...confPath);
      if (v !== undefined && v !== null) {
        return { raw: v, source: `${this.fileName} key ${confPath.join('.')}`, fromFile: true };
      }
    }
    return undefined;
  }

  string(
    envNames: string[],
    confPath: string[] | null,
    fallback: string,
    check?: (v: string) => string | null,
  ): string {
    const hit = this.lookup(envNames, confPath);
    if (!hit) return fallback;
    if (typeof hit.raw !== 'string') {
      this.problems.push(`${hit.source}: expected a string, got ${JSON.stringify(hit.raw)}`);
      return fallback;
    }
    const problem = check?.(hit.raw);
    if (problem) {
      this.problems.push(`${hit.source}: ${problem}, got ${JSON.stringify(hit.raw)}`);
      return fallback;
    }
    return hit.raw;
  }

  bool(envNames: string[], confPath: string[] | null, fallback: boolean): boolean {
    const hit = this.lookup(envNames, confPath);
    if (!hit) return fallback;
    if (typeof hit.raw === 'boolean') return hit.raw;
    // In the file only a JSON boolean: Go's decoder skips a quoted "true" (the field stays false)
    // and TIB only logs it, so reading it as true would turn a setting on that TIB leaves off.
    if (hit.fromFile) {
      this.problems.push(
        `${hit.source}: expected a JSON boolean (true or false, not quoted), got ${JSON.stringify(hit.raw)}`,
      );
      return fallback;
    }
    const parsed = typeof hit.raw === 'string' ? parseGoBool(hit.raw) : undefined;
    if (parsed === undefined) {
      this.problems.push(`${hit.source}: expected a boolean (true/false/1/0), got ${JSON.stringify(hit.raw)}`);
      return fallback;
    }
    return parsed;
  }

  int(envNames: string[], confPath: string[] | null, fallback: number, min: number, max: number): number {
    const hit = this.lookup(envNames, confPath);
    if (!hit) return fallback;
    // In the file only a JSON number, as Go's decoder takes it (a quoted "8080" is skipped there).
    const n =
      typeof hit.raw === 'number'
        ? hit.raw
        : !hit.fromFile && typeof hit.raw === 'string' && /^-?\d+$/.test(hit.raw.trim())
          ? Number(hit.raw)
          : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(
        `${hit.source}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(hit.raw)}`,
      );
      return fallback;
    }
    return n;
  }
}

const httpUrl = (v: string): string | null => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'expected an http(s) URL';
  } catch {
    return 'expected an http(s) URL';
  }
};

const tykEndpoint = (v: string): string | null => {
  if (v === '') return null;
  const bad = httpUrl(v);
  if (bad) return 'expected an http(s) URL with scheme and host, no port and no trailing slash';
  const u = new URL(v);
  if (u.port !== '' || v.endsWith('/') || (u.pathname !== '/' && u.pathname !== '')) {
    return 'expected scheme and host only (the port goes in Port), with no trailing slash';
  }
  return null;
};

const tykPort = (v: string): string | null => (v === '' || /^\d{1,5}$/.test(v) ? null : 'expected a port number');

/**
 * Reads the configuration from the environment, then a TIB `tib.conf` (path from `--conf`/`-c`
 * or `TYK_IB_CONFIG`), then defaults. Environment wins, as with TIB's envconfig overrides.
 * Throws ConfigError listing every problem, each naming the variable or key.
 */
export function loadBrokerConfig(sources: ConfigSources): ConfigLoadResult {
  const env = sources.env;
  const argv = sources.argv ?? [];
  const cwd = sources.cwd ?? process.cwd();
  const notices: string[] = [];
  const early: string[] = [];

  const explicitConf = argValue(argv, ['--conf', '-c']) ?? (env.TYK_IB_CONFIG || undefined);
  const confPath = explicitConf ?? 'tib.conf';
  const resolvedConf = path.resolve(cwd, confPath);
  let file: Json | null = null;
  let configFile: string | null = null;
  if (existsSync(resolvedConf)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(resolvedConf, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        early.push(`${confPath}: expected a JSON object`);
      } else {
        file = parsed as Json;
        configFile = resolvedConf;
      }
    } catch (e) {
      early.push(`${confPath}: not valid JSON (${(e as Error).message})`);
    }
  } else if (explicitConf !== undefined) {
    early.push(
      `${explicitConf}: config file not found (from ${argValue(argv, ['--conf', '-c']) ? '--conf' : 'TYK_IB_CONFIG'})`,
    );
  }

  // TIB: `strings.ToLower(shouldOmit) == "true"` skips the file; any other value reads it.
  const omit = env.TYK_IB_OMITCONFIGFILE;
  if (omit !== undefined && omit.toLowerCase() === 'true') {
    file = null;
  } else if (omit !== undefined && omit !== '' && omit.toLowerCase() !== 'false') {
    // Clipped: the variable's value is echoed into a log line.
    notices.push(
      `TYK_IB_OMITCONFIGFILE=${JSON.stringify(clipText(omit, 40))} is not "true": the config file is read, as TIB does`,
    );
  }

  if (file) {
    const ignored = Object.keys(file).filter((k) => !USED_TOP_LEVEL_KEYS.includes(goFoldName(k)));
    if (ignored.length > 0) {
      notices.push(
        `tib.conf keys accepted and ignored (the broker keeps its state in Postgres, not Redis or Mongo): ${ignored.join(', ')}`,
      );
    }
  }

  const r = new Reader(env, file, confPath);
  const auditStream = loadAuditStreamConfig(env);
  r.problems.push(...auditStream.problems);
  // TIB listens on 3010 unless Port is set and not 0.
  const port = r.int(['TYK_IB_PORT'], ['Port'], 3010, 0, 65535) || 3010;
  const useSSL = r.bool(['TYK_IB_HTTPSERVEROPTIONS_USESSL'], ['HttpServerOptions', 'UseSSL'], false);
  const certFile = r.string(['TYK_IB_HTTPSERVEROPTIONS_CERTFILE'], ['HttpServerOptions', 'CertFile'], '');
  const keyFile = r.string(['TYK_IB_HTTPSERVEROPTIONS_KEYFILE'], ['HttpServerOptions', 'KeyFile'], '');
  if (useSSL) {
    for (const [name, value] of [
      ['TYK_IB_HTTPSERVEROPTIONS_CERTFILE', certFile],
      ['TYK_IB_HTTPSERVEROPTIONS_KEYFILE', keyFile],
    ] as const) {
      if (value === '' || !existsSync(path.resolve(cwd, value))) {
        r.problems.push(
          `${name} (HttpServerOptions): expected a readable PEM file when UseSSL is true, got ${JSON.stringify(value)}`,
        );
      }
    }
  }
  const endpoint = (kind: 'DASHBOARD' | 'GATEWAY', key: 'DashboardConfig' | 'GatewayConfig'): TykEndpointConfig => ({
    endpoint: r.string(
      [`TYK_IB_TYKAPISETTINGS_${kind}CONFIG_ENDPOINT`],
      ['TykAPISettings', key, 'Endpoint'],
      '',
      tykEndpoint,
    ),
    port: String(r.string([`TYK_IB_TYKAPISETTINGS_${kind}CONFIG_PORT`], ['TykAPISettings', key, 'Port'], '', tykPort)),
    adminSecret: r.string(
      [`TYK_IB_TYKAPISETTINGS_${kind}CONFIG_ADMINSECRET`],
      ['TykAPISettings', key, 'AdminSecret'],
      '',
    ),
  });
  const logLevel = r.string(['TYK_LOGLEVEL'], null, 'info', (v) =>
    ['debug', 'info', 'warn', 'error'].includes(v) ? null : 'expected one of debug, info, warn, error',
  ) as LogLevel;
  const databaseUrl = r.string(['DATABASE_URL'], null, '', (v) =>
    /^postgres(ql)?:\/\//.test(v) ? null : 'expected a postgres:// or postgresql:// URL',
  );
  const databaseMigrationUrl = r.string(['DATABASE_MIGRATION_URL'], null, '', (v) =>
    /^postgres(ql)?:\/\//.test(v) ? null : 'expected a postgres:// or postgresql:// URL',
  );
  const publicUrl = r.string(['BROKER_PUBLIC_URL'], null, `${useSSL ? 'https' : 'http'}://localhost:${port}`, httpUrl);

  const config: BrokerConfig = {
    secret: r.string(['TYK_IB_SECRET'], ['Secret'], ''),
    port,
    host: r.string(['BROKER_HOST'], null, '0.0.0.0'),
    publicUrl: publicUrl.replace(/\/+$/, ''),
    httpServerOptions: {
      useSSL,
      certFile,
      keyFile,
      sslInsecureSkipVerify: r.bool(
        ['TYK_IB_HTTPSERVEROPTIONS_SSLINSECURESKIPVERIFY'],
        ['HttpServerOptions', 'SSLInsecureSkipVerify'],
        false,
      ),
    },
    sslInsecureSkipVerify: r.bool(['TYK_IB_SSLINSECURESKIPVERIFY'], ['SSLInsecureSkipVerify'], false),
    tykApi: { dashboard: endpoint('DASHBOARD', 'DashboardConfig'), gateway: endpoint('GATEWAY', 'GatewayConfig') },
    sessionSecret: r.string(['TYK_IB_SESSION_SECRET', 'SESSION_SECRET'], null, ''),
    logLevel,
    profilesFile: argValue(argv, ['--profiles', '-p']) ?? r.string(['TYK_IB_PROFILES'], null, ''),
    configFile,
    dataDir: path.resolve(cwd, r.string(['BROKER_DATA_DIR'], null, '.data')),
    bodyLimitBytes: r.int(['BROKER_BODY_LIMIT_BYTES'], null, 256 * 1024, 1024, 64 * 1024 * 1024),
    trustedProxies: r
      .string(['BROKER_TRUSTED_PROXIES'], null, 'loopback')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    database: {
      url: databaseUrl === '' ? null : databaseUrl,
      migrationUrl: databaseMigrationUrl === '' ? null : databaseMigrationUrl,
      poolSize: r.int(['DATABASE_POOL_SIZE'], null, 10, 1, 200),
    },
    portal: {
      adminToken: portalAdminToken(r, cwd),
      timeoutMs: r.int(['TYK_PORTAL_TIMEOUT_MS'], null, 5000, 100, 120000),
      retries: r.int(['TYK_PORTAL_RETRIES'], null, 2, 0, 10),
    },
    oidc: {
      timeoutMs: r.int(['BROKER_IDP_TIMEOUT_MS'], null, 5000, 100, 120000),
      discoveryTtlSeconds: r.int(['BROKER_DISCOVERY_TTL_SECONDS'], null, 3600, 1, 7 * 24 * 3600),
      loginStateTtlSeconds: r.int(['BROKER_LOGIN_STATE_TTL_SECONDS'], null, 600, 30, 3600),
      clockToleranceSeconds: r.int(['BROKER_CLOCK_TOLERANCE_SECONDS'], null, 60, 0, 600),
    },
    adminOidc: {
      issuer: r.string(['BROKER_ADMIN_OIDC_ISSUER'], null, '', (v) => httpUrl(v)),
      audience: r.string(['BROKER_ADMIN_OIDC_AUDIENCE'], null, ''),
      rolesClaim: r.string(['BROKER_ADMIN_ROLES_CLAIM'], null, 'roles'),
      allowInsecureHttp: r.bool(['BROKER_ADMIN_OIDC_ALLOW_INSECURE_HTTP'], null, false),
    },
    audit: {
      retentionDays: r.int(['BROKER_AUDIT_RETENTION_DAYS'], null, 0, 0, 36500),
      sealIntervalMs: r.int(['BROKER_AUDIT_SEAL_INTERVAL_MS'], null, 1000, 50, 60000),
      signingKeyFile: r.string(['BROKER_AUDIT_SIGNING_KEY_FILE'], null, ''),
      trustedKeysFile: r.string(['BROKER_AUDIT_TRUSTED_KEYS_FILE'], null, ''),
      signing:
        r.string(['BROKER_AUDIT_SIGNING'], null, 'on', (v) =>
          ['on', 'off'].includes(v) ? null : 'expected on or off',
        ) === 'on',
      checkpointDir: r.string(['BROKER_AUDIT_CHECKPOINT_DIR'], null, ''),
      checkpointEvery: r.int(['BROKER_AUDIT_CHECKPOINT_EVERY'], null, 1000, 1, 1_000_000),
      checkpointIntervalMs: r.int(['BROKER_AUDIT_CHECKPOINT_INTERVAL_MS'], null, 60000, 100, 3_600_000),
      fullVerifyHours: r.int(['BROKER_AUDIT_FULL_VERIFY_HOURS'], null, 24, 0, 24 * 365),
      verifyConcurrency: r.int(['BROKER_AUDIT_VERIFY_CONCURRENCY'], null, 2, 1, 64),
      sealerStalledSeconds: r.int(['BROKER_AUDIT_SEALER_STALLED_SECONDS'], null, 60, 1, 86400),
    },
    production: r.string(['NODE_ENV'], null, '') === 'production',
    workers: brokerWorkers(r),
    rateLimit: {
      loginPerMinute: r.int(['BROKER_RATE_LIMIT_LOGIN_PER_MINUTE'], null, 600, 0, 1_000_000),
      adminFailuresPerMinute: r.int(['BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE'], null, 20, 0, 1_000_000),
    },
    metrics: { token: r.string(['BROKER_METRICS_TOKEN'], null, '') },
    auditStream: auditStream.config,
    console: { clientId: '', clientSecret: '', idleMinutes: 30, absoluteHours: 8 },
    provisioning: {
      scimTokens: parseScimTokens(r.string(['BROKER_SCIM_TOKENS'], null, ''), r.problems),
      scimIssuers: {},
      inactiveDays: r.int(['BROKER_DEPROVISION_INACTIVE_DAYS'], null, 0, 0, 36500),
      inactiveIntervalMs: r.int(['BROKER_DEPROVISION_INACTIVE_INTERVAL_MS'], null, 3_600_000, 100, 86_400_000),
      outboxPollMs: r.int(['BROKER_DEPROVISION_POLL_MS'], null, 1000, 20, 600_000),
      retryBaseMs: r.int(['BROKER_DEPROVISION_RETRY_BASE_MS'], null, 2000, 10, 600_000),
      retryMaxMs: r.int(['BROKER_DEPROVISION_RETRY_MAX_MS'], null, 600_000, 10, 86_400_000),
    },
  };
  const { provisioning } = config;
  provisioning.scimIssuers = parseScimIssuers(
    r.string(['BROKER_SCIM_ISSUERS'], null, ''),
    provisioning.scimTokens,
    r.problems,
  );
  const consoleBlock = loadConsoleConfig(env, config.adminOidc.issuer);
  config.console = consoleBlock.config;
  r.problems.push(...consoleBlock.problems);
  const { issuer: adminIssuer, allowInsecureHttp: adminInsecure } = config.adminOidc;
  if (adminIssuer !== '' && httpUrl(adminIssuer) === null && !isAllowedIdpUrl(adminIssuer, adminInsecure)) {
    r.problems.push(
      `BROKER_ADMIN_OIDC_ISSUER: expected an https URL (plain http only to a loopback host, or with BROKER_ADMIN_OIDC_ALLOW_INSECURE_HTTP=true), got ${JSON.stringify(adminIssuer)}`,
    );
  }
  if (config.metrics.token !== '' && !/^[\x21-\x7e]{16,}$/.test(config.metrics.token)) {
    r.problems.push(
      'BROKER_METRICS_TOKEN: expected at least 16 printable characters without spaces (e.g. openssl rand -base64 32)',
    );
  }
  if (config.adminOidc.issuer !== '' && config.adminOidc.audience === '') {
    r.problems.push('BROKER_ADMIN_OIDC_AUDIENCE: expected an audience when BROKER_ADMIN_OIDC_ISSUER is set, got ""');
  }

  // Weak and placeholder secrets: refused in production, one warning elsewhere (issue 13).
  const secrets = checkSecrets(config, config.production);

  const problems = [...early, ...r.problems, ...secrets.problems];
  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  if (config.secret === '') {
    notices.push(
      'The admin API is disabled: no Secret is set. Set TYK_IB_SECRET (or "Secret" in tib.conf) to enable /api/profiles.',
    );
  }
  return { config, notices, warnings: secrets.warnings };
}

/** The most worker processes BROKER_WORKERS accepts (each holds its own database pool). */
const MAX_WORKERS = 64;

/**
 * BROKER_WORKERS: a whole number from 1 to MAX_WORKERS, or `auto` (the machine's cores). The check
 * enforces the range; a refused value is reported as a problem and the default ('1') comes back.
 */
function brokerWorkers(r: Reader): number {
  const isAuto = (v: string) => v.trim().toLowerCase() === 'auto';
  const raw = r.string(['BROKER_WORKERS'], null, '1', (v) =>
    isAuto(v) || (/^\d+$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= MAX_WORKERS)
      ? null
      : `expected a whole number from 1 to ${MAX_WORKERS} or auto`,
  );
  return isAuto(raw) ? Math.min(availableParallelism(), MAX_WORKERS) : Number(raw.trim());
}

/** Every configured secret value, for scrubbing logs. */
export function secretValues(config: BrokerConfig): string[] {
  return [
    config.secret,
    config.sessionSecret,
    config.tykApi.dashboard.adminSecret,
    config.tykApi.gateway.adminSecret,
    config.portal.adminToken,
    config.metrics.token,
    config.auditStream.secret,
    config.auditStream.previousSecret,
    config.console.clientSecret,
    ...config.provisioning.scimTokens.map((t) => t.token),
  ].filter((s) => s.length > 0);
}

/** Base URL of a Tyk API as TIB builds it: `Endpoint + ":" + Port`. */
export function tykBaseUrl(cfg: TykEndpointConfig): string | null {
  if (cfg.endpoint === '') return null;
  return cfg.port === '' ? cfg.endpoint : `${cfg.endpoint}:${cfg.port}`;
}
