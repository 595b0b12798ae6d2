import { ScimError, invalidValue } from './scim-error.js';
import { PATCH_SCHEMA, activeValue, attr, emailFrom, text } from './scim-user.mapper.js';
import type { ScimUserFields } from './scim-users.repository.js';

const MAX_OPERATIONS = 100;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Setter = (f: ScimUserFields, value: unknown, op: 'add' | 'replace' | 'remove') => void;

const clearable =
  (key: 'externalId' | 'givenName' | 'familyName' | 'displayName' | 'email', name: string, max: number): Setter =>
  (f, value, op) => {
    f[key] = op === 'remove' ? null : text(name, value, max);
  };

/** The paths PATCH may touch (lower-cased, core-schema URN prefix removed). */
const SETTERS: Record<string, Setter> = {
  active: (f, value, op) => {
    if (op === 'remove') throw new ScimError(400, 'mutability', 'active cannot be removed');
    f.active = activeValue(value);
  },
  username: (f, value, op) => {
    if (op === 'remove') throw new ScimError(400, 'mutability', 'userName is required and cannot be removed');
    f.userName = text('userName', value, 320, true)!;
  },
  externalid: clearable('externalId', 'externalId', 255),
  displayname: clearable('displayName', 'displayName', 300),
  'name.givenname': clearable('givenName', 'name.givenName', 200),
  'name.familyname': clearable('familyName', 'name.familyName', 200),
  'emails[type eq "work"].value': clearable('email', 'emails.value', 320),
  'emails.value': clearable('email', 'emails.value', 320),
  emails: (f, value, op) => {
    f.email = op === 'remove' ? null : emailFrom(value);
  },
  name: (f, value, op) => {
    if (op === 'remove') {
      f.givenName = null;
      f.familyName = null;
      return;
    }
    if (!isObject(value)) throw invalidValue('name must be an object');
    if (attr(value, 'givenName') !== undefined) f.givenName = text('name.givenName', attr(value, 'givenName'), 200);
    if (attr(value, 'familyName') !== undefined) f.familyName = text('name.familyName', attr(value, 'familyName'), 200);
  },
};

function setterFor(path: string): Setter {
  const key = path
    .trim()
    .replace(/^urn:ietf:params:scim:schemas:core:2\.0:user:/i, '')
    .replace(/\s+/g, ' ')
    .toLowerCase();
  const setter = SETTERS[key];
  if (!setter) throw new ScimError(400, 'invalidPath', `Unsupported or unknown path ${path.slice(0, 100)}`);
  return setter;
}

/**
 * Applies a PatchOp (RFC 7644 §3.5.2) to a user's fields: `add`/`replace`/`remove` (any case, as
 * Entra ID sends "Replace"), with a path or, for add/replace, a path-less value object whose keys
 * are paths (Okta's `{"active": false}`, Entra's `{"name.givenName": …}`). Returns the new fields.
 */
export function applyPatch(current: ScimUserFields, body: unknown): ScimUserFields {
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', 'Expected a PatchOp object');
  const schemas = attr(body, 'schemas');
  if (!Array.isArray(schemas) || !schemas.includes(PATCH_SCHEMA)) {
    throw new ScimError(400, 'invalidSyntax', `schemas must be [${PATCH_SCHEMA}]`);
  }
  const operations = attr(body, 'Operations');
  if (!Array.isArray(operations) || operations.length === 0 || operations.length > MAX_OPERATIONS) {
    throw new ScimError(400, 'invalidSyntax', `Operations must hold 1 to ${MAX_OPERATIONS} operations`);
  }
  const next = { ...current };
  for (const operation of operations) {
    if (!isObject(operation)) throw new ScimError(400, 'invalidSyntax', 'Each operation must be an object');
    const opRaw = attr(operation, 'op');
    const op = typeof opRaw === 'string' ? opRaw.toLowerCase() : '';
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw new ScimError(400, 'invalidSyntax', 'op must be add, replace or remove');
    }
    const path = attr(operation, 'path');
    const value = attr(operation, 'value');
    if (path !== undefined && path !== null) {
      if (typeof path !== 'string' || path.length > 200) {
        throw new ScimError(400, 'invalidPath', 'path must be a string');
      }
      setterFor(path)(next, value, op);
    } else if (op === 'remove') {
      throw new ScimError(400, 'noTarget', 'remove needs a path');
    } else {
      if (!isObject(value)) throw new ScimError(400, 'invalidValue', 'A path-less operation needs an object value');
      for (const [key, v] of Object.entries(value)) setterFor(key)(next, v, op);
    }
  }
  return next;
}
