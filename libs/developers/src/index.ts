/** The Nest module; exports DevelopersService and OrganisationLinksService. */
export { DevelopersModule } from './developers.module.js';
/**
 * recordLogin (one upsert; `developer_blocked` for a blocked developer), setPortalLink, findById,
 * get, list (keyset pages), block, unblock, unblockIfBlockedBy (lifts only a block of the given
 * origins; all three also in a caller's transaction), blockInactive (the inactivity policy's
 * conditional block, in a caller's transaction), erase (each audited in
 * the same transaction), lock (a caller's transaction takes the developer's row first),
 * loginHistory (the developer's `login.*` audit events).
 */
export { DevelopersService, erasedSubject, type DeveloperListInput, type DeveloperPage } from './developers.service.js';
/**
 * Cloudentity organisation → portal organisation links; `claim` creates at most one per
 * organisation, and intents recorded before the portal call let it adopt what a lost answer made.
 */
export {
  OrganisationLinksService,
  type CreatePortalOrganisation,
  type OrganisationClaimContext,
  type OrganisationLink,
  type PortalOrganisationAttempt,
} from './organisation-links.service.js';
/**
 * The last token the token actions issued per (profile, user), sealed (AES-256-GCM) in Postgres:
 * the broker binds it as @app/tyk-portal's TOKEN_CACHE so revocation works across instances.
 */
export { IssuedTokensStore, type SealedToken } from './issued-tokens.store.js';
/** The developer model and its API shape. */
export {
  DEVELOPER_STATUSES,
  toDeveloperResponse,
  type ChangeContext,
  type Developer,
  type DeveloperChange,
  type DeveloperChangeEvent,
  type DeveloperChangeHook,
  type PortalSyncState,
  type DeveloperResponse,
  type DeveloperStatus,
  type SignedInDeveloper,
  type RecordLoginInput,
} from './developer.js';
/** `GET/PATCH/DELETE /api/developers…` (reads: admin, auditor; changes: admin). */
export { DevelopersController } from './developers.controller.js';
/** TypeORM mappings (for ALL_ENTITIES and `migration check`). */
export { DeveloperEntity } from './entities/developer.entity.js';
export { PortalOrgLinkEntity } from './entities/portal-org-link.entity.js';
