/**
 * The audit event contract shared by every module. `AuditService.record()` is the one way to
 * write an event; `details` never holds a secret, token, code, nonce or personal data beyond
 * pseudonymous ids.
 */
export const AUDIT_EVENT_TYPES = [
  'login.succeeded',
  'login.failed',
  'logout',
  'logout.requested',
  'profile.created',
  'profile.updated',
  'profile.deleted',
  'developer.blocked',
  'developer.unblocked',
  'developer.erased',
  'developer.deactivated_inactive',
  'portal.organisation_created',
  'portal.developer_moved',
  'portal.developer_role_changed',
  'portal.developer_deactivated',
  'portal.developer_reactivated',
  'portal.developer_deleted',
  'token.revoked',
  'scim.request',
  'scim.user_created',
  'scim.user_updated',
  'scim.user_deactivated',
  'scim.user_reactivated',
  'scim.user_deleted',
  'admin.auth_failed',
  'audit.retention_applied',
  'audit.retention_signed',
  'audit.verified',
  'audit.stream_cursor_tampered',
  'audit.checkpoint_untrusted',
  'audit.checkpoint_passed_over',
  'audit.checkpoints_started',
  'audit.personal_erased',
  'audit.stream_gap',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export type AuditOutcome = 'success' | 'failure';

export interface AuditEventInput {
  type: AuditEventType;
  outcome: AuditOutcome;
  /** A reason code, e.g. `state_invalid` for login.failed. */
  reason?: string | null;
  /** Who did it: `developer:<id>`, `admin:<principal id>`, `system`, or `anonymous`. */
  actor?: string | null;
  /** What it was done to, e.g. `profile:<id>`, `developer:<id>`, `portal-organisation:<id>`. */
  target?: string | null;
  profileId?: string | null;
  developerId?: string | null;
  organisationId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  details?: Record<string, unknown> | null;
}
