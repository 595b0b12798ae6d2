import type { DataSource } from 'typeorm';

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

interface PrivilegeRow {
  superuser: boolean;
  owner: boolean;
  changes: boolean;
}

export async function auditProtection(ds: DataSource): Promise<AuditProtection> {
  const [row] = await ds.query<PrivilegeRow[]>(
    `SELECT r.rolsuper AS superuser,
            pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
            (has_table_privilege('audit_events', 'UPDATE') OR has_table_privilege('audit_events', 'DELETE')
             OR has_table_privilege('audit_events', 'TRUNCATE') OR has_table_privilege('audit_events', 'TRIGGER')
             OR has_table_privilege('audit_chain_anchors', 'INSERT')
             OR has_table_privilege('audit_chain_head', 'UPDATE')
             OR has_table_privilege('audit_event_personal', 'UPDATE')) AS changes
       FROM pg_roles r, pg_class c
      WHERE r.rolname = current_user AND c.oid = 'audit_events'::regclass`,
  );
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
