import { ScimError, invalidValue } from './scim-error.js';
import { ACCEPTED, PATCH_SCHEMA, USER_SCHEMA, activeValue, attr, emailFrom, text } from './scim-user.mapper.js';
import type { ScimUserFields } from './scim-users.repository.js';

const MAX_OPERATIONS = 100;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Setter = (f: ScimUserFields, value: unknown, op: 'add' | 'replace' | 'remove') => void;

const clearable =
  (key: 'externalId' | 'givenName' | 'familyName' | 'displayName' | 'email', name: string, max: number): Setter =>
  (f, value, op) => {
    f[key] = op === 'remove' ? null : text(name, value, max);
  };

/** `emails[<filter>]` naming the kept email: an object (its value), a list, or a removal. */
function oneEmail(f: ScimUserFields, value: unknown, op: string): void {
  if (op === 'remove') f.email = null;
  else if (isObject(value)) f.email = text('emails.value', attr(value, 'value'), 320);
  else f.email = emailFrom(value);
}

/** The paths PATCH changes (lower-cased, core-schema URN prefix removed): what the broker keeps. */
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
  'emails[type eq "work"]': oneEmail,
  // The kept email is the work one, else the primary one (emailFrom): an IdP that keys its email
  // by `primary` (one email, no type) changes it this way.
  'emails[primary eq true].value': clearable('email', 'emails.value', 320),
  'emails[primary eq true]': oneEmail,
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

/** Accepted and not kept, like the same attribute in POST and PUT. */
const DROP: Setter = () => undefined;

/** The core User schema's URN, lower-cased; as a prefix `…:User:` of a core attribute path. */
const CORE = USER_SCHEMA.toLowerCase();
/** RFC 7643 §4.1: readOnly User attributes; RFC 7644 §3.5.2 answers a PATCH of them with `mutability`. */
const READ_ONLY = new Set(['id', 'meta', 'groups']);
/** Kept single-valued attributes: no value filter or sub-attribute of them exists. */
const SIMPLE = new Set(['active', 'username', 'externalid', 'displayname']);
/** A core attribute path (RFC 7644 §3.10): attribute, an optional value filter, an optional sub-attribute. */
const ATTRIBUTE_PATH = /^([a-z][\w$-]*)(\[[^\]]*\])?(?:\.([a-z][\w$-]*))?$/;

/**
 * What a path (or a path-less value's key) does. Paths of kept attributes change them; the other
 * attributes POST and PUT accept and do not keep are accepted and dropped here too, with their
 * value filters and sub-attributes (`title`, `phoneNumbers[type eq "work"].value`,
 * `name.formatted`, `addresses[type eq "work"].locality`, an email other than the work one, …),
 * and so is every extension schema's attribute (`urn:…:enterprise:2.0:User:department`): an
 * IdP's PATCH that changes `title` and `active` together must apply `active`. Unknown names stay
 * `invalidPath`; readOnly ones (`id`, `meta`, `groups`) are `mutability`.
 */
function setterFor(path: string): Setter {
  const trimmed = path.trim().replace(/\s+/g, ' ');
  const lower = trimmed.toLowerCase();
  const unknown = () => new ScimError(400, 'invalidPath', `Unsupported or unknown path ${path.slice(0, 100)}`);
  if (lower.startsWith('urn:') && !lower.startsWith(`${CORE}:`)) {
    if (lower === CORE) throw unknown();
    return DROP;
  }
  const key = lower.startsWith(`${CORE}:`) ? lower.slice(CORE.length + 1) : lower;
  const setter = SETTERS[key];
  if (setter) return setter;
  const parsed = ATTRIBUTE_PATH.exec(key);
  if (!parsed) throw unknown();
  const [, attribute, filter] = parsed;
  if (READ_ONLY.has(attribute)) {
    throw new ScimError(400, 'mutability', `${attribute} is readOnly and cannot be changed`);
  }
  if (!ACCEPTED.has(attribute) || SIMPLE.has(attribute) || (attribute === 'name' && filter !== undefined)) {
    throw unknown();
  }
  // `name.<other>` (formatted, middleName, …), `emails` other than the work one, and the rest.
  return DROP;
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
      for (const [key, v] of Object.entries(value)) {
        // `{"urn:…:core:2.0:User": {…}}`: the core attributes by their schema's URN.
        if (key.trim().toLowerCase() === CORE && isObject(v)) {
          for (const [inner, w] of Object.entries(v)) setterFor(inner)(next, w, op);
        } else {
          setterFor(key)(next, v, op);
        }
      }
    }
  }
  return next;
}
