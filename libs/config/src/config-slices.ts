import { registerAs, type ConfigObject, type ConfigType } from '@nestjs/config';
import type { AuditStreamConfig } from './audit-stream-config.js';
import type { BrokerConfig, LogLevel, TykEndpointConfig } from './broker-config.js';
import type { ConsoleConfig } from './console-config.js';
import type { ProvisioningConfig } from './provisioning-config.js';

/**
 * One `registerAs` slice per concern, as @nestjs/config intends: a lib injects only what it needs with
 * `@Inject(serverConfig.KEY) cfg: ConfigType<typeof serverConfig>`. The slices are views of the
 * configuration `loadBrokerConfig` validated once at start (the single place that reads the
 * environment and tib.conf); `BrokerConfigModule.forRoot(config)` binds them to that config, so two
 * app instances in one process each see their own. The constants below give the token (`KEY`) and
 * the type; their own factory is never the source of a value.
 */
function slice<T extends ConfigObject>(name: string, view: (config: BrokerConfig) => T) {
  const unbound = (): T => {
    throw new Error(`the ${name} config is bound by BrokerConfigModule.forRoot(config), not loaded on its own`);
  };
  return Object.assign(registerAs(name, unbound), { sliceName: name, view });
}

/**
 * The share of a per-client limit one worker enforces under BROKER_WORKERS = `workers`: the limit
 * divided by the workers, rounded down, at least 1 (0 stays 0, "off"). Connections are handed to
 * the workers in turn, so a client's requests spread over them and the whole broker lets about
 * `limit` through, never N times as many; a client holding one keep-alive connection meets the
 * limit sooner (one worker's share). One process: the limit itself.
 */
function perWorkerShare(limit: number, workers: number): number {
  if (limit === 0 || workers <= 1) return limit;
  return Math.max(1, Math.floor(limit / workers));
}

/** The HTTP server: listen address, TLS, public URL, limits, logging, the data folder. */
export const serverConfig = slice('server', (c) => ({
  port: c.port,
  host: c.host,
  /** Public base URL of this broker (no trailing slash), for links it hands out. */
  publicUrl: c.publicUrl,
  httpServerOptions: c.httpServerOptions,
  bodyLimitBytes: c.bodyLimitBytes,
  trustedProxies: c.trustedProxies,
  logLevel: c.logLevel satisfies LogLevel,
  /** NODE_ENV=production (the Docker image sets it). */
  production: c.production,
  dataDir: c.dataDir,
  profilesFile: c.profilesFile,
  configFile: c.configFile,
  /**
   * Login requests per client IP per minute that this process enforces: BROKER_RATE_LIMIT_LOGIN_PER_MINUTE
   * already divided by BROKER_WORKERS (perWorkerShare); 0 disables.
   */
  rateLimit: { loginPerMinute: perWorkerShare(c.rateLimit.loginPerMinute, c.workers) },
  /** BROKER_WORKERS: worker processes behind the port (the per-IP limits above are already each one's share). */
  workers: c.workers,
  /** `BROKER_METRICS_TOKEN`: when set, `/metrics` answers only `Authorization: Bearer <token>`. */
  metrics: c.metrics,
}));

/**
 * Postgres: the runtime role's URL, the owner's (migrations), the pool, and the one owner-only setting
 * the migrations write (the audit retention bound, BROKER_AUDIT_RETENTION_DAYS).
 */
export const databaseConfig = slice('database', (c) => ({
  url: c.database.url,
  migrationUrl: c.database.migrationUrl,
  poolSize: c.database.poolSize,
  auditRetentionDays: c.audit.retentionDays,
}));

/** Talking to the IdPs (portal sign-in): timeouts, caches, login state, clock skew, TLS. */
export const oidcConfig = slice('oidc', (c) => ({
  ...c.oidc,
  /** TYK_IB_SSLINSECURESKIPVERIFY: skip TLS verification towards the IdP (TIB: http.DefaultClient). */
  sslInsecureSkipVerify: c.sslInsecureSkipVerify,
}));

/** The Tyk portal: TIB's Dashboard/Gateway settings, the management token, timeouts and retries. */
export const portalConfig = slice('portal', (c) => ({
  ...c.portal,
  tykApi: c.tykApi satisfies { dashboard: TykEndpointConfig; gateway: TykEndpointConfig },
  /**
   * Skip TLS verification towards the portal only as TIB does: its Tyk API client gets a transport
   * of its own when TIB serves HTTPS (HttpServerOptions.UseSSL), with
   * HttpServerOptions.SSLInsecureSkipVerify; the top-level SSLInsecureSkipVerify never reaches it.
   */
  sslInsecureSkipVerify: c.httpServerOptions.useSSL && c.httpServerOptions.sslInsecureSkipVerify,
}));

/**
 * The audit log: retention, sealing, checkpoints and their signing key, the scheduled verify, and the
 * SIEM stream (BROKER_AUDIT_STREAM_*). `dataDir` and `production` decide where a generated signing key
 * lives and whether one may be generated.
 */
export const auditConfig = slice('audit', (c) => ({
  ...c.audit,
  dataDir: c.dataDir,
  production: c.production,
  stream: c.auditStream satisfies AuditStreamConfig,
}));

/**
 * Who may use the admin API and the console: TIB's `Secret`, the admin IdP (BROKER_ADMIN_OIDC_*), the
 * per-IP failure limit, and the console's client and session timeouts (BROKER_CONSOLE_*).
 */
export const adminConfig = slice('admin', (c) => ({
  secret: c.secret,
  oidc: c.adminOidc,
  /**
   * Failed admin/SCIM authentications per client IP per minute that this process enforces:
   * BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE already divided by BROKER_WORKERS (perWorkerShare);
   * 0 disables.
   */
  failuresPerMinute: perWorkerShare(c.rateLimit.adminFailuresPerMinute, c.workers),
  console: c.console satisfies ConsoleConfig,
}));

/** SCIM tokens, the deprovisioning outbox and its retries, the inactivity policy. */
export const provisioningConfig = slice('provisioning', (c) => ({ ...(c.provisioning satisfies ProvisioningConfig) }));

/** Every slice, in the order BrokerConfigModule binds them. */
export const CONFIG_SLICES = [
  serverConfig,
  databaseConfig,
  oidcConfig,
  portalConfig,
  auditConfig,
  adminConfig,
  provisioningConfig,
] as const;

export type ServerConfig = ConfigType<typeof serverConfig>;
export type DatabaseConfig = ConfigType<typeof databaseConfig>;
export type OidcConfig = ConfigType<typeof oidcConfig>;
export type PortalConfig = ConfigType<typeof portalConfig>;
export type AuditConfig = ConfigType<typeof auditConfig>;
export type AdminConfig = ConfigType<typeof adminConfig>;

/** The slices of one validated config, for code outside Nest (CLI, tests, plain functions). */
export function configSlices(config: BrokerConfig) {
  return {
    server: serverConfig.view(config),
    database: databaseConfig.view(config),
    oidc: oidcConfig.view(config),
    portal: portalConfig.view(config),
    audit: auditConfig.view(config),
    admin: adminConfig.view(config),
    provisioning: provisioningConfig.view(config),
  };
}
