/**
 * Erasure without breaking the chain (issue 14). A developer's IP address and user agent are kept
 * outside the chained record, in `audit_event_personal` (one row per event, written by the same
 * INSERT statement). The chain covers every other field, so erasing a developer deletes their
 * personal rows (the owner's `audit_erase_personal()`, the runtime role may only call it) and every
 * hash still verifies. The runtime role may insert personal rows but never change or delete one.
 * Events sealed before this change keep ip/user_agent in the chained record (the hash covers
 * them); they stay readable until retention removes them.
 */

/**
 * The display value: the legacy chained column, else the personal row's (coalesce does not run the
 * subquery when the column is set). No ", " inside: the export's column list is split on it.
 */
export const PERSONAL_IP = `coalesce(e.ip,(SELECT p.ip FROM audit_event_personal p WHERE p.event_id = e.id))`;
export const PERSONAL_USER_AGENT = `coalesce(e.user_agent,(SELECT p.user_agent FROM audit_event_personal p WHERE p.event_id = e.id))`;

/** The IP filter over both places. */
export function ipFilter(param: string): string {
  return `(e.ip <<= ${param}::inet OR e.id IN (SELECT p.event_id FROM audit_event_personal p WHERE p.ip <<= ${param}::inet))`;
}

/** to_char's format for an ISO-8601 UTC time with microseconds (the audit records' times). */
export const ISO_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/**
 * The chained record exactly as sealed (ip and user_agent from audit_events itself), for the sealer
 * and the verifier; RECORD_COLUMNS is the same list with the personal fields shown.
 */
export const CHAIN_COLUMNS = `e.id::text AS id,
  to_char(e.occurred_at AT TIME ZONE 'UTC', ${ISO_US}) AS occurred_at,
  e.type, e.outcome, e.reason, e.actor, e.target, e.profile_id, e.developer_id::text AS developer_id,
  e.organisation_id, e.ip, e.user_agent, e.request_id, e.details,
  e.seq::text AS seq, e.prev_id::text AS prev_id, e.prev_hash, e.hash,
  to_char(e.sealed_at AT TIME ZONE 'UTC', ${ISO_US}) AS sealed_at`;
