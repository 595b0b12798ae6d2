import { ProfileEntity } from '@app/profiles';
import { AuditChainAnchorEntity, AuditChainHeadEntity, AuditEventEntity } from '@app/audit';
import { DeveloperEntity, PortalOrgLinkEntity } from '@app/developers';
/**
 * Every entity of every lib, for the migration commands (generate, check). At run time each lib
 * registers its own entities with TypeOrmModule.forFeature.
 */
export const ALL_ENTITIES: (new () => unknown)[] = [
  ProfileEntity,
  AuditEventEntity,
  AuditChainHeadEntity,
  AuditChainAnchorEntity,
  DeveloperEntity,
  PortalOrgLinkEntity,
];
