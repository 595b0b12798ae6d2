import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * `audit_events` as created by the CreateAuditEvents migration (the migration is the source of
 * truth; this mapping exists for `migration check` and TypeORM's metadata). Rows are written and
 * read with raw SQL by AuditService; never through a repository's save().
 */
@Entity({ name: 'audit_events' })
@Check('CHK_audit_events_outcome', `outcome IN ('success', 'failure')`)
@Check(
  'CHK_audit_events_sealed',
  `(seq IS NULL AND prev_hash IS NULL AND hash IS NULL AND sealed_at IS NULL AND prev_id IS NULL)
          OR (seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL AND sealed_at IS NOT NULL)`,
)
@Index('IDX_audit_events_seq', ['seq'], { unique: true })
@Index('IDX_audit_events_developer', ['developerId', 'id'])
@Index('IDX_audit_events_profile', ['profileId', 'id'])
@Index('IDX_audit_events_org_time', ['organisationId', 'occurredAt'])
@Index('IDX_audit_events_type_id', ['type', 'id'])
@Index('IDX_audit_events_outcome_time', ['outcome', 'occurredAt'])
@Index('IDX_audit_events_time', ['occurredAt'])
@Index('IDX_audit_events_ip', ['ip'])
// Expression and partial indexes TypeORM cannot describe: kept as the migration made them.
@Index('IDX_audit_events_text', { synchronize: false })
@Index('IDX_audit_events_unsealed', { synchronize: false })
// Partial, with INCLUDE: the console overview's sign-in counts (migration AddLoginTimeIndex).
@Index('IDX_audit_events_login_time', { synchronize: false })
export class AuditEventEntity {
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'PK_audit_events',
  })
  id!: string;

  @Column({ name: 'occurred_at', type: 'timestamp with time zone', default: () => 'clock_timestamp()' })
  occurredAt!: Date;

  @Column({ type: 'varchar', length: 64 })
  type!: string;

  @Column({ type: 'varchar', length: 16 })
  outcome!: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  reason!: string | null;

  @Column({ type: 'varchar', length: 300, nullable: true })
  actor!: string | null;

  @Column({ type: 'varchar', length: 300, nullable: true })
  target!: string | null;

  @Column({ name: 'profile_id', type: 'varchar', length: 200, nullable: true })
  profileId!: string | null;

  @Column({ name: 'developer_id', type: 'uuid', nullable: true })
  developerId!: string | null;

  @Column({ name: 'organisation_id', type: 'varchar', length: 200, nullable: true })
  organisationId!: string | null;

  @Column({ type: 'inet', nullable: true })
  ip!: string | null;

  @Column({ name: 'user_agent', type: 'varchar', length: 512, nullable: true })
  userAgent!: string | null;

  @Column({ name: 'request_id', type: 'varchar', length: 128, nullable: true })
  requestId!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  details!: Record<string, unknown> | null;

  @Column({ type: 'bigint', nullable: true })
  seq!: string | null;

  @Column({ name: 'prev_id', type: 'bigint', nullable: true })
  prevId!: string | null;

  @Column({ name: 'prev_hash', type: 'char', length: 64, nullable: true })
  prevHash!: string | null;

  @Column({ type: 'char', length: 64, nullable: true })
  hash!: string | null;

  @Column({ name: 'sealed_at', type: 'timestamp with time zone', nullable: true })
  sealedAt!: Date | null;
}
