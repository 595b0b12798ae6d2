import { SetMetadata } from '@nestjs/common';

export type AdminRole = 'admin' | 'auditor';

/** Who called an admin route; attached to the request by the admin guard. */
export interface AdminPrincipal {
  /** `secret` for the TIB secret, else the token's subject. */
  id: string;
  kind: 'secret' | 'token';
  roles: AdminRole[];
}

export const ADMIN_ROLES_KEY = 'broker:admin-roles';

/**
 * The audit actor for a principal, prefixed by its role so the log tells an auditor's action from
 * an admin's: `admin:<id>` for an admin (as before), `auditor:<id>` for an auditor only, and
 * `token:<id>` for a token that carries neither role.
 */
export function actorOf(principal: AdminPrincipal): string {
  const role = principal.roles.includes('admin') ? 'admin' : principal.roles.includes('auditor') ? 'auditor' : 'token';
  return `${role}:${principal.id}`;
}

/**
 * Marks a controller or route as an admin route open to the given roles. Libs declare it; the
 * broker's global guard checks credentials, so libs need not know how admins authenticate.
 */
export const AdminRoles = (...roles: AdminRole[]) => SetMetadata(ADMIN_ROLES_KEY, roles);
