import type { AuditEventType } from '../audit-event.js';
import type { AuditEventRecord } from '../audit-record.js';

/** The OCSF schema version the events claim (`metadata.version`). */
export const OCSF_VERSION = '1.3.0';

const PRODUCT = { name: 'Portal SSO Broker', vendor_name: 'Portal SSO Broker' };

type OcsfEvent = Record<string, unknown>;

interface ClassChoice {
  class_uid: 3001 | 3002 | 6003;
  activity_id: number;
}

const IAM = { uid: 3, name: 'Identity & Access Management' };
const APPLICATION = { uid: 6, name: 'Application Activity' };
const CLASS_NAMES = { 3001: 'Account Change', 3002: 'Authentication', 6003: 'API Activity' } as const;

/**
 * Which OCSF class and activity each broker event becomes: logins (and admin authentication
 * failures) are Authentication, developer block/unblock/erase are Account Change, every change an
 * administrator or the broker makes to its own or the portal's objects is API Activity.
 */
const CLASSES: Record<AuditEventType, ClassChoice> = {
  'login.succeeded': { class_uid: 3002, activity_id: 1 }, // Logon
  'login.failed': { class_uid: 3002, activity_id: 1 },
  logout: { class_uid: 3002, activity_id: 2 }, // Logoff
  'logout.requested': { class_uid: 3002, activity_id: 2 },
  'admin.auth_failed': { class_uid: 3002, activity_id: 1 },
  'developer.blocked': { class_uid: 3001, activity_id: 5 }, // Disable
  'developer.unblocked': { class_uid: 3001, activity_id: 2 }, // Enable
  'developer.erased': { class_uid: 3001, activity_id: 6 }, // Delete
  'developer.deactivated_inactive': { class_uid: 3001, activity_id: 5 },
  'portal.developer_deactivated': { class_uid: 3001, activity_id: 5 },
  'portal.developer_reactivated': { class_uid: 3001, activity_id: 2 },
  'portal.developer_deleted': { class_uid: 3001, activity_id: 6 },
  'scim.user_created': { class_uid: 3001, activity_id: 1 }, // Create
  'scim.user_deactivated': { class_uid: 3001, activity_id: 5 },
  'scim.user_reactivated': { class_uid: 3001, activity_id: 2 },
  'scim.user_deleted': { class_uid: 3001, activity_id: 6 },
  'scim.user_updated': { class_uid: 6003, activity_id: 3 },
  'scim.request': { class_uid: 6003, activity_id: 99 }, // Other
  'token.revoked': { class_uid: 6003, activity_id: 4 },
  'profile.created': { class_uid: 6003, activity_id: 1 }, // Create
  'profile.updated': { class_uid: 6003, activity_id: 3 }, // Update
  'profile.deleted': { class_uid: 6003, activity_id: 4 }, // Delete
  'portal.organisation_created': { class_uid: 6003, activity_id: 1 },
  'portal.developer_moved': { class_uid: 6003, activity_id: 3 },
  'portal.developer_role_changed': { class_uid: 6003, activity_id: 3 }, // Update
  'audit.verified': { class_uid: 6003, activity_id: 2 }, // Read
  'audit.retention_applied': { class_uid: 6003, activity_id: 4 },
  // The broker's signed proof of the retention it applied (the anchor it left).
  'audit.retention_signed': { class_uid: 6003, activity_id: 4 },
  // The SIEM stream's cursor was written by someone other than the broker (moved past events).
  'audit.stream_cursor_tampered': { class_uid: 6003, activity_id: 3 }, // Update
  // The newest signed checkpoint is not one the broker can trust (re-signed or removed outside it).
  'audit.checkpoint_untrusted': { class_uid: 6003, activity_id: 3 }, // Update
  // Untrusted checkpoints appended at the end, passed over by the broker's next signed checkpoint.
  'audit.checkpoint_passed_over': { class_uid: 6003, activity_id: 3 }, // Update
  // The signed checkpoints start from the beginning of the chain (first start, or the table emptied).
  'audit.checkpoints_started': { class_uid: 6003, activity_id: 1 }, // Create
  // The database's own record of an erasure's deleted IP addresses and user agents.
  'audit.personal_erased': { class_uid: 6003, activity_id: 4 }, // Delete
  // Events were removed before the SIEM received them (past the stream's retention hold).
  'audit.stream_gap': { class_uid: 6003, activity_id: 4 }, // Delete
};

/** An event type recorded by a newer broker than this mapping: API Activity, activity Other. */
const OTHER: ClassChoice = { class_uid: 6003, activity_id: 99 };

function severityId(record: AuditEventRecord): number {
  // Normal once per installation; again, the checkpoints table may have been emptied.
  if (record.type === 'audit.checkpoints_started') return 3; // Medium
  if (record.outcome === 'success') return 1; // Informational
  // Someone with the broker's database credentials tried to keep events from the SIEM.
  if (
    record.type === 'audit.stream_cursor_tampered' ||
    record.type === 'audit.checkpoint_untrusted' ||
    record.type === 'audit.checkpoint_passed_over'
  ) {
    return 4; // High
  }
  if (record.type === 'audit.stream_gap') return record.reason === 'removed_undelivered' ? 4 : 3; // High : Medium
  return record.type === 'admin.auth_failed' ? 3 : 2; // Medium : Low
}

/** Where the request came from; the broker itself for its own background work. */
function srcEndpoint(record: AuditEventRecord): Record<string, unknown> {
  return record.ip ? { ip: record.ip } : { name: 'portal-sso-broker' };
}

function actor(record: AuditEventRecord): Record<string, unknown> {
  return { user: { uid: record.actor ?? 'anonymous' } };
}

/** The developer an event is about (`developer:<id>` targets carry the same id). */
function subjectUser(record: AuditEventRecord): Record<string, unknown> {
  const uid = record.developer_id ?? record.target ?? record.actor ?? 'unknown';
  return record.organisation_id ? { uid, org: { uid: record.organisation_id } } : { uid };
}

/**
 * One audit event as an OCSF 1.x event of class Authentication (3002), Account Change (3001) or
 * API Activity (6003): the base attributes every class requires, the class's own required ones,
 * the event id as `metadata.uid` (receivers de-duplicate on it: delivery is at least once) and the
 * broker's fields that OCSF has no place for in `unmapped`.
 */
export function toOcsf(record: AuditEventRecord): OcsfEvent {
  const choice = CLASSES[record.type as AuditEventType] ?? OTHER;
  const category = choice.class_uid === 6003 ? APPLICATION : IAM;
  const success = record.outcome === 'success';
  const event: OcsfEvent = {
    activity_id: choice.activity_id,
    category_uid: category.uid,
    category_name: category.name,
    class_uid: choice.class_uid,
    class_name: CLASS_NAMES[choice.class_uid],
    type_uid: choice.class_uid * 100 + choice.activity_id,
    severity_id: severityId(record),
    status_id: success ? 1 : 2,
    status: success ? 'Success' : 'Failure',
    time: Date.parse(record.occurred_at),
    message: record.reason ? `${record.type}: ${record.reason}` : record.type,
    metadata: {
      uid: record.id,
      version: OCSF_VERSION,
      product: PRODUCT,
      log_name: 'audit',
      ...(record.seq ? { sequence: Number(record.seq) } : {}),
      ...(record.request_id ? { correlation_uid: record.request_id } : {}),
    },
    actor: actor(record),
    src_endpoint: srcEndpoint(record),
    unmapped: {
      type: record.type,
      reason: record.reason,
      target: record.target,
      profile_id: record.profile_id,
      organisation_id: record.organisation_id,
      details: record.details,
      hash: record.hash,
    },
  };
  if (record.reason) event.status_detail = record.reason;
  if (record.user_agent) event.http_request = { user_agent: record.user_agent };
  if (choice.class_uid === 3002) {
    const admin = record.type === 'admin.auth_failed';
    event.user = subjectUser(record);
    event.auth_protocol_id = admin ? 6 : 4; // OAUTH 2.0 (bearer tokens) : OpenID
    event.service = {
      name: admin ? 'broker admin API' : 'developer portal sign-in',
      uid: record.profile_id ?? undefined,
    };
    event.is_remote = true;
  } else if (choice.class_uid === 3001) {
    event.user = subjectUser(record);
  } else {
    event.api = {
      operation: record.type,
      service: { name: 'Portal SSO Broker' },
      ...(record.request_id ? { request: { uid: record.request_id } } : {}),
    };
    if (record.target) event.resources = [{ uid: record.target, type: record.target.split(':')[0] }];
  }
  return event;
}
