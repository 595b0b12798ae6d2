import type { DeveloperStatus } from '../developer.js';
import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * `developers` as created by the CreateDevelopers migration (the migration is the source of
 * truth; DevelopersRepository reads and writes it with raw SQL). Its fields are the Developer type.
 */
@Entity({ name: 'developers' })
// Unique among developers not erased: erased rows of one person share `erased:<hash>` (migration
// DevelopersSubjectUniqueUntilErased).
@Index('UQ_developers_issuer_subject', ['issuer', 'subject'], { unique: true, where: '"erased_at" IS NULL' })
@Check('CHK_developers_status', `status IN ('active', 'blocked')`)
@Check('CHK_developers_subject', `"subject" IS NOT NULL OR "erased_at" IS NOT NULL`)
@Index('IDX_developers_organisation', ['organisationId'])
@Index('IDX_developers_created', ['createdAt', 'id'])
// Expression indexes on lower(email) (equality and trigram): kept as the migration made them.
@Index('IDX_developers_email', { synchronize: false })
@Index('IDX_developers_email_trgm', { synchronize: false })
// Partial indexes over blocked developers (the login's second-identity check), from the migration.
@Index('IDX_developers_blocked_email', { synchronize: false })
@Index('IDX_developers_blocked_sso_key', { synchronize: false })
@Index('IDX_developers_blocked_portal_user', { synchronize: false })
@Index('IDX_developers_blocked_subject', { synchronize: false })
// One live developer per SSO key (the login upsert fails for a second one), from the migration.
@Index('UQ_developers_live_sso_key', { synchronize: false })
export class DeveloperEntity {
  /** Defaults to broker_random_uuid(), i.e. gen_random_uuid() (see the migration for why). */
  @PrimaryColumn({ type: 'uuid', default: () => 'broker_random_uuid()', primaryKeyConstraintName: 'PK_developers' })
  id!: string;

  @Column({ type: 'varchar', length: 500 })
  issuer!: string;

  /**
   * The IdP's subject. After erasure: `erased:<sha-256 of the subject>` while blocked (so the person
   * stays blocked; migration ErasedSubjectOnlyWhileBlocked), else null.
   */
  @Column({ type: 'varchar', length: 255, nullable: true })
  subject!: string | null;

  @Column({ type: 'varchar', length: 320, nullable: true })
  email!: string | null;

  @Column({ name: 'email_verified', type: 'boolean', default: false })
  emailVerified!: boolean;

  @Column({ type: 'varchar', length: 300, nullable: true })
  name!: string | null;

  @Column({ name: 'organisation_id', type: 'varchar', length: 200, nullable: true })
  organisationId!: string | null;

  @Column({ name: 'organisation_name', type: 'varchar', length: 300, nullable: true })
  organisationName!: string | null;

  @Column({ name: 'portal_user_id', type: 'varchar', length: 100, nullable: true })
  portalUserId!: string | null;

  @Column({ name: 'sso_key', type: 'varchar', length: 400, nullable: true })
  ssoKey!: string | null;

  @Column({ type: 'varchar', length: 16, default: 'active' })
  status!: DeveloperStatus;

  @Column({ name: 'first_login_at', type: 'timestamp with time zone', nullable: true })
  firstLoginAt!: Date | null;

  @Column({ name: 'last_login_at', type: 'timestamp with time zone', nullable: true })
  lastLoginAt!: Date | null;

  @Column({ name: 'login_count', type: 'integer', default: 0 })
  loginCount!: number;

  @Column({ name: 'erased_at', type: 'timestamp with time zone', nullable: true })
  erasedAt!: Date | null;

  /**
   * When the developer was last unblocked; the inactivity policy counts from it too (migration
   * DevelopersUnblockedAt). Not in the API's DeveloperResponse.
   */
  @Column({ name: 'unblocked_at', type: 'timestamp with time zone', nullable: true })
  unblockedAt!: Date | null;

  /**
   * Who blocked the developer (blockOrigin of the actor: `admin`, `cli`, `inactivity`,
   * `scim:<token label>`, `scim` for a login refused over an inactive SCIM user); null while
   * active, and for a block of unknown origin (migration DevelopersBlockedBy). SCIM lifts only
   * its own blocks.
   */
  @Column({ name: 'blocked_by', type: 'varchar', length: 100, nullable: true })
  blockedBy!: string | null;

  @Column({ name: 'created_at', type: 'timestamp with time zone', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamp with time zone', default: () => 'now()' })
  updatedAt!: Date;
}
