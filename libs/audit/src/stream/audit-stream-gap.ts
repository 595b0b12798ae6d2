import type { AuditEventInput } from '../audit-event.js';
import type { AuditEventRecord } from '../audit-record.js';

/** Events the stream never delivered and cannot: removed between the cursor and the next event. */
export interface StreamGap {
  after_seq: string;
  next_seq: string;
  missing: string;
}

/**
 * Seqs are contiguous (the sealer appends the next one) and retention holds back what the stream
 * has not delivered, so the next event is `after + 1` unless events were removed past the hold:
 * through `audit_apply_retention()` called directly (the runtime role may) or by the owner.
 */
export function gapBefore(after: string, first: AuditEventRecord): StreamGap | null {
  const next = BigInt(first.seq ?? '0');
  if (next <= BigInt(after) + 1n) return null;
  return { after_seq: after, next_seq: next.toString(), missing: (next - BigInt(after) - 1n).toString() };
}

export function gapEvent(gap: StreamGap): AuditEventInput {
  // Before the first delivery, a log cut by retention before streaming was turned on looks the same.
  const first = gap.after_seq === '0';
  return {
    type: 'audit.stream_gap',
    outcome: 'failure',
    reason: first ? 'removed_before_first_delivery' : 'removed_undelivered',
    actor: 'system',
    target: 'audit_stream_cursor',
    details: { ...gap },
  };
}
