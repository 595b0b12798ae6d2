import { DomainError } from '@app/common';
import { invalid } from './audit-filters.js';
import { overdueText, type FullVerifyOverdue } from './audit-verify-trust.js';

// A verify request's id parameters and its refusals (AuditChainService.verify).

/** Another session holds the full verify's lock; says so, and that the full verify is overdue when it is. */
export function fullVerifyRunning(overdue: FullVerifyOverdue | null): DomainError {
  return new DomainError(
    'verify_running',
    'A full verify of the audit chain is already running (on demand or scheduled, on this or another instance); ' +
      'its result will be recorded as an audit.verified event. Try again when it has finished, or use mode=routine.' +
      (overdue ? ` The full verify is overdue: ${overdueText(overdue)}; the lock may be held on purpose.` : ''),
    overdue ? { fullVerify: 'overdue', fullVerifyOverdue: overdue } : undefined,
  );
}

/** BROKER_AUDIT_VERIFY_CONCURRENCY verifies already run in this process (`details.limit`). */
export function verifiesAtLimit(limit: number): DomainError {
  return new DomainError(
    'verify_running',
    `This instance is already running ${limit} verif${limit === 1 ? 'y' : 'ies'} of the audit chain ` +
      '(BROKER_AUDIT_VERIFY_CONCURRENCY). Try again when one has finished.',
    { limit },
  );
}

/** An event id parameter (from_id, to_id), or null when absent. */
export function idParam(parameter: string, value: string | number | bigint | null | undefined): string | null {
  if (value === undefined || value === null || value === '') return null;
  const s = typeof value === 'string' ? value.trim() : String(value);
  if (!/^\d{1,19}$/.test(s) || BigInt(s) > 9223372036854775807n) {
    throw invalid(parameter, 'expected an event id (a positive whole number)');
  }
  return s;
}
