/** Loads and validates the configuration (environment, then tib.conf, then defaults). */
export {
  ConfigError,
  loadBrokerConfig,
  secretValues,
  tykBaseUrl,
  type BrokerConfig,
  type ConfigLoadResult,
  type ConfigSources,
  type LogLevel,
  type TykEndpointConfig,
} from './broker-config.js';
/** The global module that provides the slices (ConfigModule) and, for entry points, BROKER_CONFIG. */
export { BROKER_CONFIG, BrokerConfigModule } from './broker-config.module.js';
/** One registerAs slice per concern: inject with `@Inject(serverConfig.KEY) cfg: ServerConfig`. */
export {
  adminConfig,
  auditConfig,
  configSlices,
  databaseConfig,
  oidcConfig,
  portalConfig,
  provisioningConfig,
  serverConfig,
  type AdminConfig,
  type AuditConfig,
  type DatabaseConfig,
  type OidcConfig,
  type PortalConfig,
  type ServerConfig,
} from './config-slices.js';
/** Per-purpose keys derived (HKDF) from TYK_IB_SESSION_SECRET: the token store's and the cursors'. */
export { SESSION_KEYS, SessionKeys, type SessionKeyPurpose } from './session-keys.js';
/** The BROKER_AUDIT_STREAM_* block (SIEM streaming). */
export { loadAuditStreamConfig, type AuditStreamConfig } from './audit-stream-config.js';
/** The BROKER_CONSOLE_* block (security console sign-in and session timeouts). */
export { loadConsoleConfig, type ConsoleConfig } from './console-config.js';
/** The provisioning block (SCIM tokens, outbox retry, inactivity policy). */
export { parseScimIssuers, parseScimTokens, type ProvisioningConfig } from './provisioning-config.js';
