import type { AuditEventsRepository } from './audit-events.repository.js';

/**
 * How well the database itself protects the audit log from the broker's own credentials
 * (issue 14). `strong`: the broker's role neither owns the audit tables nor may change them other
 * than through the owner's functions. `weak`: it could rewrite the log (one role for migrations
 * and runtime, or a superuser); the hash chain and signed checkpoints still detect that.
 */
export interface AuditProtection {
  protection: 'strong' | 'weak';
  /** Why it is weak, and what to do about it. */
  reason?: string;
}

export async function auditProtection(events: Pick<AuditEventsRepository, 'privileges'>): Promise<AuditProtection> {
  const row = await events.privileges();
  if (!row) return { protection: 'weak', reason: 'the audit tables are missing' };
  if (row.superuser) {
    return {
      protection: 'weak',
      reason:
        'the broker connects as a database superuser: connect DATABASE_URL as a runtime role and set DATABASE_MIGRATION_URL to the owner role (README "Running at scale")',
    };
  }
  if (row.owner) {
    return {
      protection: 'weak',
      reason:
        'the broker\'s database role owns the audit tables (one role for migrations and runtime): set DATABASE_MIGRATION_URL to a separate owner role (README "Running at scale")',
    };
  }
  if (row.changes) {
    return {
      protection: 'weak',
      reason:
        "the broker's database role may UPDATE, DELETE, TRUNCATE or add triggers to the audit tables: revoke those grants",
    };
  }
  return { protection: 'strong' };
}
