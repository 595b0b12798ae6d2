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

  const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

  it('should apply active from an Entra ID PATCH that also changes attributes it does not keep', () => {
    // Entra sends every changed attribute of a user in one PATCH: refusing one loses the deactivation.
    const next = patch(
      { op: 'Replace', path: 'title', value: 'Dev' },
      { op: 'Replace', path: 'preferredLanguage', value: 'de-DE' },
      { op: 'Replace', path: 'name.formatted', value: 'Zed B' },
      { op: 'Replace', path: 'name.givenName', value: 'Zed' },
      { op: 'Replace', path: 'phoneNumbers[type eq "work"].value', value: '+49 30 1' },
      { op: 'Replace', path: 'phoneNumbers[type eq "mobile"].value', value: '+49 170 1' },
      { op: 'Replace', path: 'addresses[type eq "work"].locality', value: 'Berlin' },
      { op: 'Add', path: `${ENTERPRISE}:department`, value: 'Partners' },
      { op: 'Add', path: `${ENTERPRISE}:manager`, value: 'b1c2' },
      { op: 'Replace', path: 'active', value: 'False' },
    );
    expect(next).toEqual({ ...base, givenName: 'Zed', active: false });
  });

  it.each([
    'title',
    'nickName',
    'userType',
    'preferredLanguage',
    'locale',
    'timezone',
    'profileUrl',
    'password',
    'phoneNumbers',
    'phoneNumbers.value',
    'phoneNumbers[type eq "work"].value',
    'PHONENUMBERS[ type  eq "work" ].value',
    'addresses[type eq "work"].streetAddress',
    'addresses',
    'ims',
    'photos',
    'entitlements',
    'roles',
    'x509Certificates',
    'name.formatted',
    'name.middleName',
    'name.honorificPrefix',
    'emails[type eq "home"].value',
    'emails[type eq "work"].primary',
    'urn:ietf:params:scim:schemas:core:2.0:User:title',
    `${ENTERPRISE}:department`,
    `${ENTERPRISE}:manager`,
    `${ENTERPRISE}:manager.value`,
    ENTERPRISE,
    'urn:example:params:scim:schemas:extension:acme:1.0:User:costCentre',
  ])('should accept and drop %s (add, replace and remove), as POST and PUT do', (path) => {
    for (const op of ['Add', 'Replace', 'Remove']) {
      expect(patch({ op, path, value: 'x' }, { op: 'Replace', path: 'active', value: 'False' })).toEqual({
        ...base,
        active: false,
      });
    }
  });

  it('should accept and drop the same keys in a path-less value object', () => {
    expect(
      patch({
        op: 'replace',
        value: {
          title: 'Dev',
          'name.formatted': 'A B',
          'phoneNumbers[type eq "work"].value': '+1',
          [`${ENTERPRISE}:department`]: 'X',
          [ENTERPRISE]: { department: 'X', employeeNumber: '7' },
          addresses: [{ type: 'work', locality: 'Berlin' }],
          active: 'False',
        },
      }),
    ).toEqual({ ...base, active: false });
  });

  it('should read the core attributes of a path-less value keyed by the core schema URN', () => {
    const next = patch({
      op: 'replace',
      value: { 'urn:ietf:params:scim:schemas:core:2.0:User': { active: false, title: 'x', displayName: 'Q' } },
    });
    expect(next).toEqual({ ...base, active: false, displayName: 'Q' });
  });

  it('should change the work email through emails[type eq "work"] with a value object', () => {
    expect(patch({ op: 'replace', path: 'emails[type eq "work"]', value: { value: 'w@b.c' } }).email).toBe('w@b.c');
    expect(patch({ op: 'remove', path: 'emails[type eq "work"]' }).email).toBeNull();
  });

  it('should change the kept email through emails[primary eq true], as POST keeps the primary one when none is work', () => {
    expect(patch({ op: 'replace', path: 'emails[primary eq true].value', value: 'p@b.c' }).email).toBe('p@b.c');
    expect(patch({ op: 'replace', path: 'emails[primary eq true]', value: { value: 'q@b.c' } }).email).toBe('q@b.c');
    expect(patch({ op: 'remove', path: 'emails[primary eq true]' }).email).toBeNull();
  });

  it.each([
    [{ op: 'replace', path: 'shoeSize', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', path: 'phoneNumberz[type eq "work"].value', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', path: 'urn:ietf:params:scim:schemas:core:2.0:User:shoeSize', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', path: 'urn:ietf:params:scim:schemas:core:2.0:User', value: {} }, 'invalidPath'],
    [{ op: 'replace', path: 'active.value', value: true }, 'invalidPath'],
    [{ op: 'replace', path: 'userName[type eq "x"]', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', path: 'name[givenName eq "x"].familyName', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', path: 'title]', value: 'x' }, 'invalidPath'],
    [{ op: 'replace', value: { title: 'x', shoeSize: 1 } }, 'invalidPath'],
    [{ op: 'replace', path: 'id', value: 'x' }, 'mutability'],
    [{ op: 'remove', path: 'meta' }, 'mutability'],
    [{ op: 'replace', path: 'meta.lastModified', value: 'x' }, 'mutability'],
    [{ op: 'add', path: 'groups', value: [{ value: 'g' }] }, 'mutability'],
    [{ op: 'replace', value: { id: 'x', active: false } }, 'mutability'],
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

  // The email paths this change added or widened: NUL, a lone surrogate, a megabyte, wrong types.
  it.each(
    ['emails[primary eq true].value', 'emails[primary eq true]', 'emails[type eq "work"]'].flatMap((path) => {
      const wrap = (v: unknown) => (path.endsWith('.value') ? v : { value: v });
      return [
        [path, 'NUL', wrap('a\u0000@b.c')],
        [path, 'a lone surrogate', wrap('a\ud800@b.c')],
        [path, 'a megabyte', wrap(`${'a'.repeat(1024 * 1024)}@b.c`)],
        [path, 'a number', wrap(42)],
        [path, 'a number instead of the object or list', 42],
      ] as [string, string, unknown][];
    }),
  )('should refuse %s with %s as invalidValue', (path, _what, value) => {
    expect(() => patch({ op: 'replace', path, value })).toThrow(
      expect.objectContaining({ status: 400, scimType: 'invalidValue' }),
    );
  });
});
