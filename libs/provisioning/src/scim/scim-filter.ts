import { unsafeTextReason } from '@app/common';
import { ScimError } from './scim-error.js';

/** The attributes a filter may test, and what each compares. */
export type FilterAttribute = 'userName' | 'externalId' | 'email';

export interface FilterCondition {
  attribute: FilterAttribute;
  value: string;
}

const MAX_FILTER = 1000;
const invalid = (detail: string) => new ScimError(400, 'invalidFilter', detail);

/** Attribute paths as provisioning clients send them (case-insensitive, RFC 7643 §2.1). */
function attributeOf(path: string): FilterAttribute {
  const p = path.toLowerCase().replace(/^urn:ietf:params:scim:schemas:core:2\.0:user:/, '');
  if (p === 'username') return 'userName';
  if (p === 'externalid') return 'externalId';
  if (p === 'emails.value' || p === 'emails[type eq "work"].value' || p === 'emails') return 'email';
  throw invalid(`Filtering on ${path} is not supported; use userName, externalId or emails.value`);
}

/**
 * The filter subset provisioning clients use to find a user before creating it (Entra ID:
 * `userName eq "…"`, `externalId eq "…"`; Okta: `userName eq "…"`, plus
 * `emails[type eq "work"].value eq "…"`): `eq` comparisons joined by `and`. Anything else
 * (`or`, `not`, other operators, other attributes, bad quoting) is `invalidFilter`.
 */
export function parseFilter(filter: string): FilterCondition[] {
  if (filter.length > MAX_FILTER) throw invalid(`A filter is at most ${MAX_FILTER} characters`);
  const conditions: FilterCondition[] = [];
  let rest = filter.trim();
  for (;;) {
    const m =
      /^((?:[A-Za-z][\w:.-]*)(?:\[\s*type\s+eq\s+"work"\s*\](?:\.value)?)?)\s+(\w+)\s+"((?:[^"\\]|\\.)*)"\s*/i.exec(
        rest,
      );
    if (!m) throw invalid(`Expected attribute eq "value" at: ${rest.slice(0, 60) || '(end)'}`);
    if (m[2].toLowerCase() !== 'eq') throw invalid(`Only the eq operator is supported, got ${m[2]}`);
    let value: string;
    try {
      value = JSON.parse(`"${m[3]}"`) as string;
    } catch {
      throw invalid('Bad escape in a filter value');
    }
    // Postgres refuses a NUL in text (22021): checked here so that it is the client's 400, not a 500.
    const unsafe = unsafeTextReason(value);
    if (unsafe) throw new ScimError(400, 'invalidValue', `A filter value ${unsafe}`);
    conditions.push({ attribute: attributeOf(m[1].replace(/\s+/g, ' ')), value });
    rest = rest.slice(m[0].length);
    if (rest === '') return conditions;
    const and = /^and\s+/i.exec(rest);
    if (!and) throw invalid(`Only "and" joins comparisons, at: ${rest.slice(0, 60)}`);
    rest = rest.slice(and[0].length);
  }
}
