import { Check, Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

/** `audit_chain_head`: the single row holding the last sealed link (forward-only trigger). */
@Entity({ name: 'audit_chain_head' })
@Check('CHK_audit_chain_head_single', `id = 1`)
export class AuditChainHeadEntity {
  @PrimaryColumn({ type: 'smallint', default: 1, primaryKeyConstraintName: 'PK_audit_chain_head' })
  id!: number;

  @Column({ name: 'last_seq', type: 'bigint', default: 0 })
  lastSeq!: string;

  @Column({ name: 'last_id', type: 'bigint', nullable: true })
  lastId!: string | null;

  @Column({ name: 'last_hash', type: 'char', length: 64 })
  lastHash!: string;

  @Column({ name: 'updated_at', type: 'timestamp with time zone', default: () => 'now()' })
  updatedAt!: Date;
}

/** `audit_chain_anchors`: where verification starts after retention (append-only). */
@Entity({ name: 'audit_chain_anchors' })
export class AuditChainAnchorEntity {
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'PK_audit_chain_anchors',
  })
  id!: string;

  @Column({ name: 'created_at', type: 'timestamp with time zone', default: () => 'now()' })
  createdAt!: Date;

  /** Chain position of the first retained event. */
  @Column({ name: 'first_seq', type: 'bigint' })
  firstSeq!: string;

  /** Hash of the last removed event: the first retained event's prev_hash. */
  @Column({ name: 'prev_hash', type: 'char', length: 64 })
  prevHash!: string;

  @Column({ name: 'removed_count', type: 'bigint' })
  removedCount!: string;

  @Column({ name: 'last_removed_id', type: 'bigint' })
  lastRemovedId!: string;

  @Column({ type: 'timestamp with time zone' })
  cutoff!: Date;
}
