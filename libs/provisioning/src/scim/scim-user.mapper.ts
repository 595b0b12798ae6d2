import { unsafeTextReason } from '@app/common';
import { ScimError, invalidValue } from './scim-error.js';
import type { ScimUserFields, ScimUserRecord } from './scim-users.repository.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/**
 * Core User attributes (RFC 7643 §4.1) a client may send. The broker keeps userName, externalId,
 * name, displayName, the work (or primary) email and active; the rest are accepted and not kept.
 * Attributes outside the core schema (other than extension URNs) are refused. PATCH accepts the
 * same set (see scim-patch.ts), lower-cased here.
 */
export const ACCEPTED = new Set(
  [
    'schemas',
    'id',
    'meta',
    'externalId',
    'userName',
    'name',
    'displayName',
    'nickName',
    'profileUrl',
    'title',
    'userType',
    'preferredLanguage',
    'locale',
    'timezone',
    'active',
    'password',
    'emails',
    'phoneNumbers',
    'ims',
    'photos',
    'addresses',
    'groups',
    'entitlements',
    'roles',
    'x509Certificates',
  ].map((a) => a.toLowerCase()),
);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Case-insensitive attribute read (RFC 7643 §2.1). */
export function attr(o: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : o[key];
}

export function text(name: string, v: unknown, max: number, required = false): string | null {
  if (v === undefined || v === null || v === '') {
    if (required) throw invalidValue(`${name} is required`);
    return null;
  }
  if (typeof v !== 'string') throw invalidValue(`${name} must be a string`);
  if (v.length > max) throw invalidValue(`${name} must be at most ${max} characters`);
  const unsafe = unsafeTextReason(v);
  if (unsafe) throw invalidValue(`${name}: ${unsafe}`);
  return v;
}

/** `active` as a boolean; Entra ID sends the strings "True"/"False" in PATCH. */
export function activeValue(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalidValue('active must be a boolean');
}

/** The email to keep from `emails`: the work one, else the primary, else the first. */
export function emailFrom(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length > 20 || !v.every(isObject)) throw invalidValue('emails must be a list of objects');
  const list = v;
  const pick =
    list.find((e) => {
      const t = attr(e, 'type');
      return typeof t === 'string' && t.toLowerCase() === 'work';
    }) ??
    list.find((e) => attr(e, 'primary') === true || attr(e, 'primary') === 'True') ??
    list[0];
  return pick ? text('emails.value', attr(pick, 'value'), 320) : null;
}

/**
 * A full User resource (POST, PUT) → the fields kept. `active` left out: true for a new user
 * (POST), the current value for a replacement (PUT, `current`). RFC 7644 §3.5.1 lets a service
 * provider take an omitted readWrite attribute as "not asserted" by the client; clearing it would
 * mean `true` here, which would unblock an inactive user's developer behind the IdP's back.
 */
export function fieldsFrom(body: unknown, current?: Pick<ScimUserFields, 'active'>): ScimUserFields {
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', 'Expected a User resource (a JSON object)');
  const schemas = attr(body, 'schemas');
  if (
    !Array.isArray(schemas) ||
    !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === USER_SCHEMA.toLowerCase())
  ) {
    throw new ScimError(400, 'invalidSyntax', `schemas must include ${USER_SCHEMA}`);
  }
  for (const key of Object.keys(body)) {
    if (!ACCEPTED.has(key.toLowerCase()) && !key.toLowerCase().startsWith('urn:')) {
      throw new ScimError(400, 'invalidSyntax', `Unknown attribute ${key.slice(0, 100)}`);
    }
  }
  const name = attr(body, 'name');
  if (name !== undefined && name !== null && !isObject(name)) throw invalidValue('name must be an object');
  const active = attr(body, 'active');
  return {
    userName: text('userName', attr(body, 'userName'), 320, true)!,
    externalId: text('externalId', attr(body, 'externalId'), 255),
    email: emailFrom(attr(body, 'emails')),
    givenName: isObject(name) ? text('name.givenName', attr(name, 'givenName'), 200) : null,
    familyName: isObject(name) ? text('name.familyName', attr(name, 'familyName'), 200) : null,
    displayName: text('displayName', attr(body, 'displayName'), 300),
    active: active === undefined || active === null ? (current?.active ?? true) : activeValue(active),
  };
}

/** The User resource the broker answers with. */
export function toResource(u: ScimUserRecord, baseUrl: string) {
  return {
    schemas: [USER_SCHEMA],
    id: u.id,
    ...(u.externalId !== null ? { externalId: u.externalId } : {}),
    userName: u.userName,
    name: {
      ...(u.givenName !== null ? { givenName: u.givenName } : {}),
      ...(u.familyName !== null ? { familyName: u.familyName } : {}),
      ...(u.givenName !== null || u.familyName !== null
        ? { formatted: [u.givenName, u.familyName].filter(Boolean).join(' ') }
        : {}),
    },
    ...(u.displayName !== null ? { displayName: u.displayName } : {}),
    emails: u.email !== null ? [{ value: u.email, type: 'work', primary: true }] : [],
    active: u.active,
    meta: {
      resourceType: 'User',
      created: u.createdAt.toISOString(),
      lastModified: u.updatedAt.toISOString(),
      location: `${baseUrl}/scim/v2/Users/${u.id}`,
      version: `W/"${u.version}"`,
    },
  };
}
