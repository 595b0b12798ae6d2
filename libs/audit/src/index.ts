/** The event contract: the types, outcomes and fields every module records. */
export { AUDIT_EVENT_TYPES, type AuditEventInput, type AuditEventType, type AuditOutcome } from './audit-event.js';
/** The Nest module (providers, controller, entities); exports AuditService. */
export { AuditModule } from './audit.module.js';
/** record (one INSERT, optionally in the caller's transaction), query, exportEvents, verify, sealNow, sealingLagSeconds, applyRetention. */
export { AuthFailures } from './auth-failures.js';
export { AuditService, type AuditEventPage, type AuditSealerState, type AuditVerifyReport } from './audit.service.js';
/** The newest recorded full verify and whether this broker trusts it (its signed proof). */
export type { FullVerifyOverdue, FullVerifyState, RecordedFullVerify } from './audit-verify-trust.js';
/** How well the database protects the log from the broker's own role. */
export { auditProtection, type AuditProtection } from './audit-protection.js';
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
export { EXPORT_CONTENT_TYPES, type AuditExportFormat } from './export/audit-export-format.js';
/** The hash chain's definition, for offline verifiers: canonical JSON and the link hash. */
export {
  CHAINED_FIELDS,
  GENESIS_HASH,
  canonicalEventJson,
  canonicalJson,
  chainHash,
  type ChainedEventFields,
} from './audit-chain.js';
/**
 * The paging kit now lives in @app/common (issue 18); these re-exports keep older imports working.
 * AuditModule still provides the broker's CursorCodec (keyed from the session secret).
 */
export { PageQueryDto } from './dto/page-query.dto.js';
export { CursorCodec, cursorInvalid, filterFingerprint, nextPageLink } from './cursor.js';
/** OpenAPI schemas of the audit answers (events page, verify result). */
export { AuditEventDto, AuditEventPageDto, AuditVerifyResultDto } from './dto/audit-responses.dto.js';
/** TypeORM mappings of the audit tables (for ALL_ENTITIES and `migration check`). */
export { AuditEventEntity } from './entities/audit-event.entity.js';
export { AuditChainAnchorEntity, AuditChainHeadEntity } from './entities/audit-chain.entities.js';
/** Signed checkpoints and the verifier shared by the online and the offline verify (issue 14). */
export {
  AuditCheckpointsService,
  type AuditCheckpointPage,
  type AuditSigningKeys,
  type CheckpointState,
} from './audit-checkpoints.service.js';
export { verifyCheckpoints } from './audit-checkpoint-verify.js';
export {
  ChainWalk,
  checkpointHash,
  sortBreaks,
  type AuditBreak,
  type AuditBreakKind,
  type AuditCheckpoint,
  type VerifiableEvent,
} from './audit-verifier.js';
export {
  loadSigningKey,
  publicKeysOfFiles,
  signingKeyFromText,
  trustedKeysFromText,
  type AuditSigningKey,
} from './audit-signing-key.js';
export { verifyExportFiles, type OfflineVerifyResult } from './audit-offline-verify.js';
/** Streaming to a SIEM (BROKER_AUDIT_STREAM_*): the sender's state, lag, and the OCSF mapping. */
export { AuditStreamService, type AuditStreamStatus } from './stream/audit-stream.service.js';
export { OCSF_VERSION, toOcsf } from './stream/ocsf.js';
export { SIGNATURE_HEADER as AUDIT_STREAM_SIGNATURE_HEADER } from './stream/audit-stream.sender.js';
/** Sign-in statistics for the security console's overview (per hour, top failing keys). */
export { AuditStatsService, type SignInOverview } from './stats/audit-stats.service.js';
