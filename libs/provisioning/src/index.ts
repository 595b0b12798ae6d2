/**
 * Provisioning: deprovisioning effects (portal user Active/deletion, revocation of issued tokens)
 * carried out from a Postgres outbox with retries. Imports config, database, audit, developers
 * and tyk-portal (ARCHITECTURE.md).
 */
export { ProvisioningModule, type ProvisioningModuleOptions } from './provisioning.module.js';
/** Hooked into DevelopersService: block, unblock and erase enqueue their portal follow-ups. */
export { DeprovisioningService } from './deprovisioning.service.js';
/** The outbox worker (`runOnce()` for tests and the CLI). */
export { DeprovisioningWorker, leaseSecondsFor } from './deprovisioning.worker.js';
/** The port the broker binds to revoke issued tokens. */
export { TOKEN_REVOKER, type RevocationReport, type TokenRevoker, type UnrevokableReason } from './token-revoker.js';
/** SCIM Users; `atLogin` links a pre-provisioned user at the developer's login (developer_blocked when inactive). */
export { ScimUsersService } from './scim/scim-users.service.js';
/** Body parsing for /scim with SCIM errors (the broker mounts it before its own JSON parser). */
export { scimBodyParser } from './scim/scim-body.js';
/** The inactivity policy (BROKER_DEPROVISION_INACTIVE_DAYS): `run()` one round, `candidates()` for --dry-run. */
export { InactivityJob } from './inactivity.job.js';
