import type { DeveloperEntity } from './entities/developer.entity.js';

/**
 * A developer: one per (issuer, subject), created or updated by each login. The entity's fields as
 * a plain object (one shape for the table and the domain, not two that mirror each other).
 */
export type Developer = { [K in keyof DeveloperEntity]: DeveloperEntity[K] };

/** A developer a login just recorded: never erased, so it has its subject. */
export type SignedInDeveloper = Developer & { subject: string };

export type DeveloperStatus = 'active' | 'blocked';

/**
 * Where a block comes from, as `developers.blocked_by` keeps it, from the change's audit actor:
 * `admin` (the admin API and the console, `admin:<id>`), `scim:<token label>` (a SCIM client's
 * deactivation or delete), `scim` (a login refused because its SCIM user is inactive,
 * `system:scim`), `inactivity` and `cli` (`system:<name>`); any other actor as it is.
 */
export function blockOrigin(actor: string): string {
  if (actor.startsWith('admin:')) return 'admin';
  if (actor.startsWith('system:')) return actor.slice('system:'.length);
  return actor.slice(0, 100);
}

export const DEVELOPER_STATUSES: readonly DeveloperStatus[] = ['active', 'blocked'];

/** What a successful login tells us about the developer (claims already mapped). */
export interface RecordLoginInput {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  organisationId: string | null;
  organisationName: string | null;
  /** The portal SSO key, when known at this point; null keeps the stored one. */
  ssoKey?: string | null;
}

/** Request facts recorded with an admin change (the caller resolves the client IP). */
export interface ChangeContext {
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
}

/** The API shape of a developer (snake_case, ISO times). */
export interface DeveloperResponse {
  id: string;
  issuer: string;
  subject: string | null;
  email: string | null;
  email_verified: boolean;
  name: string | null;
  organisation_id: string | null;
  organisation_name: string | null;
  portal_user_id: string | null;
  sso_key: string | null;
  status: DeveloperStatus;
  first_login_at: string | null;
  last_login_at: string | null;
  login_count: number;
  erased_at: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function toDeveloperResponse(d: Developer): DeveloperResponse {
  return {
    id: d.id,
    issuer: d.issuer,
    subject: d.subject,
    email: d.email,
    email_verified: d.emailVerified,
    name: d.name,
    organisation_id: d.organisationId,
    organisation_name: d.organisationName,
    portal_user_id: d.portalUserId,
    sso_key: d.ssoKey,
    status: d.status,
    first_login_at: iso(d.firstLoginAt),
    last_login_at: iso(d.lastLoginAt),
    login_count: d.loginCount,
    erased_at: iso(d.erasedAt),
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
  };
}

/** An admin change that the world outside the broker (the portal, issued tokens) must follow. */
export type DeveloperChange = 'blocked' | 'unblocked' | 'erased';

/** `portal_sync` on `GET /api/developers/{id}`: whether the portal has caught up with the last change. */
export interface PortalSyncState {
  state: 'pending' | 'done' | 'failed';
  action: 'deactivate' | 'reactivate' | 'delete';
  attempts: number;
  last_error: string | null;
  updated_at: string;
}

/** What a {@link DeveloperChangeHook} is told about a change. */
export interface DeveloperChangeEvent {
  developer: Developer;
  change: DeveloperChange;
  actor: string;
  /**
   * `subject`, `email`: as before the change (an erasure removes them from `developer`). The
   * subject is null for a change to an erased developer that is not blocked (it has none left).
   */
  subject: string | null;
  email: string | null;
  /**
   * An erasure's tokens issued to the developer, taken out of `issued_tokens` in its transaction
   * and still sealed: the hook must get them revoked (they are gone from the store). Empty otherwise.
   */
  tokens: import('./issued-tokens.store.js').SealedToken[];
}

/**
 * Registered by @app/provisioning (which may import this lib, not the other way round):
 * `changed` runs inside the change's transaction, so the change and its follow-up commit together.
 */
export interface DeveloperChangeHook {
  changed(manager: import('typeorm').EntityManager, event: DeveloperChangeEvent): Promise<void>;
  portalSync(id: string): Promise<PortalSyncState | null>;
}
