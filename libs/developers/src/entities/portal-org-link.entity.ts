import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * `portal_org_links`: the portal organisation (and team) made for a Cloudentity organisation of
 * one IdP (keyed by issuer and organisation id). OrganisationLinksRepository reads and writes it
 * with raw SQL; the migration is the source of truth.
 */
@Entity({ name: 'portal_org_links' })
@Index('IDX_portal_org_links_portal_org_id', ['portalOrgId'])
export class PortalOrgLinkEntity {
  @PrimaryColumn({ type: 'varchar', length: 500, primaryKeyConstraintName: 'PK_portal_org_links' })
  issuer!: string;

  @PrimaryColumn({
    name: 'cloudentity_org_id',
    type: 'varchar',
    length: 200,
    primaryKeyConstraintName: 'PK_portal_org_links',
  })
  cloudentityOrgId!: string;

  @Column({ name: 'portal_org_id', type: 'varchar', length: 200 })
  portalOrgId!: string;

  @Column({ name: 'portal_team_id', type: 'varchar', length: 200, nullable: true })
  portalTeamId!: string | null;

  @Column({ name: 'created_at', type: 'timestamp with time zone', default: () => 'now()' })
  createdAt!: Date;
}

/** A link as the lib hands it out: the entity's fields as a plain object (one shape, not two). */
export type OrganisationLink = { [K in keyof PortalOrgLinkEntity]: PortalOrgLinkEntity[K] };
