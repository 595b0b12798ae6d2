/** The event contract: the types, outcomes and fields every module records. */
export { AUDIT_EVENT_TYPES, type AuditEventInput, type AuditEventType, type AuditOutcome } from './audit-event.js';
/** The Nest module (providers, controller, entities); exports AuditService. */
export { AuditModule } from './audit.module.js';
/** record (one INSERT, optionally in the caller's transaction), query, exportEvents, verify, sealNow, sealingLagSeconds, applyRetention. */
export { AuditService, type AuditEventPage } from './audit.service.js';
/** Sealing, verification and retention of the hash chain (used through AuditService). */
export {
  AuditChainService,
  type AuditChainProblem,
  type AuditChainProblemKind,
  type AuditRetentionResult,
  type AuditVerifyResult,
} from './audit-chain.service.js';
/** `GET /api/audit/events`, `/api/audit/export`, `/api/audit/verify` (admin, auditor). */
export { AuditController } from './audit.controller.js';
/** Query filters: the accepted input and its validation (`validation_failed` naming the parameter). */
export {
  DEFAULT_LIMIT as AUDIT_DEFAULT_LIMIT,
  MAX_LIMIT as AUDIT_MAX_LIMIT,
  pageLimit,
  parseAuditFilters,
  type AuditFilters,
  type AuditQueryInput,
} from './audit-filters.js';
/** An event as the API and the export return it. */
export type { AuditEventRecord } from './audit-record.js';
/** Export formats and their content types. */
export { EXPORT_CONTENT_TYPES, type AuditExportFormat } from './audit-export.js';
/** The hash chain's definition, for offline verifiers: canonical JSON and the link hash. */
export {
  CHAINED_FIELDS,
  GENESIS_HASH,
  canonicalEventJson,
  canonicalJson,
  chainHash,
  type ChainedEventFields,
} from './audit-chain.js';
/** The limit/cursor query parameters of every paged list route. */
export { PageQueryDto } from './dto/page-query.dto.js';
/**
 * Signed (HMAC) keyset cursors bound to their filters, `cursor_invalid` otherwise, and the
 * `Link: rel="next"` header: the paging kit shared with developers (AuditModule provides CursorCodec).
 */
export { CursorCodec, cursorInvalid, filterFingerprint, nextPageLink } from './cursor.js';
/** TypeORM mappings of the audit tables (for ALL_ENTITIES and `migration check`). */
export { AuditEventEntity } from './entities/audit-event.entity.js';
export { AuditChainAnchorEntity, AuditChainHeadEntity } from './entities/audit-chain.entities.js';
/** Streaming to a SIEM (BROKER_AUDIT_STREAM_*): the sender's state, lag, and the OCSF mapping. */
export { AuditStreamService, type AuditStreamStatus } from './stream/audit-stream.service.js';
export { OCSF_VERSION, toOcsf } from './stream/ocsf.js';
export { SIGNATURE_HEADER as AUDIT_STREAM_SIGNATURE_HEADER } from './stream/audit-stream.sender.js';
/** Sign-in statistics for the security console's overview (per hour, top failing keys). */
export { AuditStatsService, type SignInOverview } from './stats/audit-stats.service.js';
