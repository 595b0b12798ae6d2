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
 * Marks a controller or route as an admin route open to the given roles. Libs declare it; the
 * broker's global guard checks credentials, so libs need not know how admins authenticate.
 */
export const AdminRoles = (...roles: AdminRole[]) => SetMetadata(ADMIN_ROLES_KEY, roles);
