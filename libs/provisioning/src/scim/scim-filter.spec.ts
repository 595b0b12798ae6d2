import { ScimError } from './scim-error.js';
import { parseFilter } from './scim-filter.js';
import { applyPatch } from './scim-patch.js';
import type { ScimUserFields } from './scim-users.repository.js';

describe('SCIM filter subset', () => {
  it('should read the filters Entra ID and Okta send', () => {
    expect(parseFilter('userName eq "alice@acme.example"')).toEqual([
      { attribute: 'userName', value: 'alice@acme.example' },
    ]);
    expect(parseFilter('externalId eq "0f3c-\\"x\\""')).toEqual([{ attribute: 'externalId', value: '0f3c-"x"' }]);
    expect(parseFilter('emails[type eq "work"].value eq "a@b.c" and USERNAME EQ "a"')).toEqual([
      { attribute: 'email', value: 'a@b.c' },
      { attribute: 'userName', value: 'a' },
    ]);
    expect(parseFilter('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"')).toEqual([
      { attribute: 'userName', value: 'x' },
    ]);
  });

  it.each([
    'userName eq',
    'userName eq "a" or externalId eq "b"',
    'not (userName eq "a")',
    'userName sw "a"',
    'userName eq "a" and',
    'displayName eq "a"',
    'userName eq "\\q"',
    'userName pr',
    '',
  ])('should refuse %j with invalidFilter', (filter) => {
    let error: unknown;
    try {
      parseFilter(filter);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScimError);
    expect(error).toMatchObject({ status: 400, scimType: 'invalidFilter' });
  });

  it.each([
    ['an escaped NUL', 'userName eq "\\u0000"'],
    ['an escaped lone surrogate', 'emails.value eq "\\ud800@x"'],
  ])('should refuse a value with %s (Postgres cannot compare it) as invalidValue', (_what, filter) => {
    expect(() => parseFilter(filter)).toThrow(expect.objectContaining({ status: 400, scimType: 'invalidValue' }));
  });
});

describe('SCIM PATCH', () => {
  const base: ScimUserFields = {
    userName: 'a@b.c',
    externalId: 'x',
    email: 'a@b.c',
    givenName: 'A',
    familyName: 'B',
    displayName: 'A B',
    active: true,
  };
  const patch = (...Operations: unknown[]) =>
    applyPatch(base, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations });

  it('should take Entra ID\'s Replace with "False" and Okta\'s path-less value object', () => {
    expect(patch({ op: 'Replace', path: 'active', value: 'False' }).active).toBe(false);
    expect(patch({ op: 'replace', value: { active: false } }).active).toBe(false);
    expect(patch({ op: 'Add', value: { 'name.givenName': 'Z', displayName: 'Z B' } })).toMatchObject({
      givenName: 'Z',
      displayName: 'Z B',
    });
    expect(patch({ op: 'replace', path: 'emails[type eq "work"].value', value: 'n@b.c' }).email).toBe('n@b.c');
    expect(patch({ op: 'remove', path: 'externalId' }).externalId).toBeNull();
    expect(base.active).toBe(true);
  });

  it.each([
    [{ op: 'replace', path: 'nickName', value: 'x' }, 'invalidPath'],
    [{ op: 'remove', path: 'active' }, 'mutability'],
    [{ op: 'remove' }, 'noTarget'],
    [{ op: 'copy', path: 'active', value: true }, 'invalidSyntax'],
    [{ op: 'replace', path: 'active', value: 1 }, 'invalidValue'],
    [{ op: 'replace', path: 'userName', value: '' }, 'invalidValue'],
  ])('should refuse %j with %s', (operation, scimType) => {
    expect(() => patch(operation)).toThrow(ScimError);
    try {
      patch(operation);
    } catch (e) {
      expect(e).toMatchObject({ status: 400, scimType });
    }
  });
});
