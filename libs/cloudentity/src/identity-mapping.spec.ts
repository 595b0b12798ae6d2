import { DomainError } from '@app/common';
import { mapIdentity } from './identity-mapping.js';
import type { IdentityMappingSettings } from './oidc-settings.js';

const base: IdentityMappingSettings = {
  customEmailField: '',
  customUserIdField: '',
  customUserGroupField: '',
  userGroupSeparator: '',
  userGroupMapping: null,
  defaultUserGroupId: '',
  domain: '',
  organisationClaim: 'organization_id',
  organisationNameClaim: 'organization_name',
  allowUnverifiedEmail: false,
  provider: 'openid-connect',
};

const claims = {
  sub: 'u-1',
  email: 'ada@example.com',
  email_verified: true,
  given_name: 'Ada',
  family_name: 'Lovelace',
  name: 'Countess Lovelace',
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  return undefined;
}

describe('mapIdentity', () => {
  describe('email', () => {
    it('should take the email claim by default', () => {
      expect(mapIdentity(claims, base).email).toBe('ada@example.com');
    });

    it('should take a custom email field when it holds a string', () => {
      const id = mapIdentity({ ...claims, mail: 'ada@example.com' }, { ...base, customEmailField: 'mail' });
      expect(id.email).toBe('ada@example.com');
      expect(id.emailVerified).toBe(true);
    });

    it('should fall back to the email claim when the custom field is missing or not a string', () => {
      expect(mapIdentity(claims, { ...base, customEmailField: 'mail' }).email).toBe('ada@example.com');
      expect(mapIdentity({ ...claims, mail: 42 }, { ...base, customEmailField: 'mail' }).email).toBe('ada@example.com');
    });

    it('should fail with email_missing when there is no email at all (never a placeholder)', () => {
      const { email: _e, ...noEmail } = claims;
      expect(codeOf(() => mapIdentity(noEmail, base))).toBe('email_missing');
      expect(codeOf(() => mapIdentity({ ...noEmail, email: '' }, base))).toBe('email_missing');
    });

    it('should fail with email_missing when the claim is not an email address', () => {
      expect(codeOf(() => mapIdentity({ ...claims, email: 'not-an-email' }, base))).toBe('email_missing');
    });
  });

  describe('email verification', () => {
    it('should fail with email_unverified when email_verified is false or absent', () => {
      expect(codeOf(() => mapIdentity({ ...claims, email_verified: false }, base))).toBe('email_unverified');
      const { email_verified: _v, ...noFlag } = claims;
      expect(codeOf(() => mapIdentity(noFlag, base))).toBe('email_unverified');
    });

    it('should accept the string "true" some IdPs send', () => {
      expect(mapIdentity({ ...claims, email_verified: 'true' }, base).emailVerified).toBe(true);
    });

    it('should let an unverified email through only when the profile allows it, and say so', () => {
      const id = mapIdentity({ ...claims, email_verified: false }, { ...base, allowUnverifiedEmail: true });
      expect(id.email).toBe('ada@example.com');
      expect(id.emailVerified).toBe(false);
    });

    it('should treat a custom email that differs from the verified email claim as unverified', () => {
      const settings = { ...base, customEmailField: 'mail' };
      expect(codeOf(() => mapIdentity({ ...claims, mail: 'mallory@example.com' }, settings))).toBe('email_unverified');
    });

    it('should name CustomEmailField as the cause when the custom claim is what is unverified', () => {
      const settings = { ...base, customEmailField: 'mail' };
      let caught: unknown;
      try {
        mapIdentity({ ...claims, mail: 'mallory@example.com' }, settings);
      } catch (e) {
        caught = e;
      }
      expect(caught).toMatchObject({ code: 'email_unverified', details: { customEmailField: 'mail' } });
      expect((caught as Error).message).toMatch(/custom claim mail \(CustomEmailField\)/);
      // A plain unverified email claim is not blamed on the setting.
      try {
        mapIdentity({ ...claims, email_verified: false }, settings);
      } catch (e) {
        expect(e).toMatchObject({ code: 'email_unverified', details: undefined });
      }
    });
  });

  describe('user id and SSO key', () => {
    it('should use sub and build the TIB SSO key', () => {
      const id = mapIdentity(claims, base);
      expect(id.userId).toBe('u-1');
      expect(id.ssoKey).toBe('u-1@openid-connect.com');
    });

    it('should use a custom user id field when present, stringifying numbers', () => {
      expect(mapIdentity({ ...claims, employee: 'E7' }, { ...base, customUserIdField: 'employee' }).userId).toBe('E7');
      const id = mapIdentity(
        { ...claims, employee: 1234 },
        { ...base, customUserIdField: 'employee', provider: 'cloudentity' },
      );
      expect(id.userId).toBe('1234');
      expect(id.ssoKey).toBe('1234@cloudentity.com');
    });

    it('should fall back to sub when the custom user id field is absent', () => {
      expect(mapIdentity(claims, { ...base, customUserIdField: 'employee' }).userId).toBe('u-1');
    });
  });

  describe('display name (TIB: first + last, trimmed, else the email)', () => {
    it('should join given and family name', () => {
      expect(mapIdentity(claims, base).displayName).toBe('Ada Lovelace');
    });

    it('should use whichever part exists', () => {
      const { family_name: _f, ...first } = claims;
      expect(mapIdentity(first, base).displayName).toBe('Ada');
      const { given_name: _g, ...last } = claims;
      expect(mapIdentity(last, base).displayName).toBe('Lovelace');
    });

    it('should fall back to the email, not the name claim, as TIB does', () => {
      const { given_name: _g, family_name: _f, ...none } = claims;
      const id = mapIdentity(none, base);
      expect(id.displayName).toBe('ada@example.com');
      expect(id.firstName).toBe('');
      expect(id.lastName).toBe('');
    });
  });

  describe('groups', () => {
    const mapping = { devs: 'g-dev', ops: 'g-ops', admins: 'g-admin' };

    it('should use the default group when no group field is configured', () => {
      const id = mapIdentity(
        { ...claims, groups: ['devs'] },
        { ...base, userGroupMapping: mapping, defaultUserGroupId: 'g-default' },
      );
      expect(id.groupIds).toEqual(['g-default']);
      expect(id.groupId).toBe('g-default');
    });

    it('should give an empty list and an empty group id without a default', () => {
      const id = mapIdentity(claims, { ...base, customUserGroupField: 'groups', userGroupMapping: mapping });
      expect(id.groupIds).toEqual([]);
      expect(id.groupId).toBe('');
    });

    it('should map an array claim item by item and drop unmapped items', () => {
      const settings = {
        ...base,
        customUserGroupField: 'groups',
        userGroupMapping: mapping,
        defaultUserGroupId: 'g-default',
      };
      const id = mapIdentity({ ...claims, groups: ['ops', 'strangers', 'devs'] }, settings);
      expect(id.groupIds).toEqual(['g-ops', 'g-dev']);
      expect(id.groupId).toBe('g-ops');
    });

    it('should split a string claim on a single space by default', () => {
      const settings = { ...base, customUserGroupField: 'groups', userGroupMapping: mapping };
      expect(mapIdentity({ ...claims, groups: 'devs  admins' }, settings).groupIds).toEqual(['g-dev', 'g-admin']);
    });

    it('should split a string claim on the configured separator', () => {
      const settings = { ...base, customUserGroupField: 'groups', userGroupSeparator: ',', userGroupMapping: mapping };
      expect(mapIdentity({ ...claims, groups: 'admins,devs' }, settings).groupIds).toEqual(['g-admin', 'g-dev']);
      // With a comma separator the space-separated string is one unknown group.
      expect(mapIdentity({ ...claims, groups: 'admins devs' }, settings).groupIds).toEqual([]);
    });

    it('should fall back to the default group when nothing maps, the claim is null or missing', () => {
      const settings = {
        ...base,
        customUserGroupField: 'groups',
        userGroupMapping: mapping,
        defaultUserGroupId: 'g-default',
      };
      expect(mapIdentity({ ...claims, groups: ['strangers'] }, settings).groupIds).toEqual(['g-default']);
      expect(mapIdentity({ ...claims, groups: null }, settings).groupIds).toEqual(['g-default']);
      expect(mapIdentity(claims, settings).groupIds).toEqual(['g-default']);
    });

    it('should drop everything when there is no mapping', () => {
      const settings = { ...base, customUserGroupField: 'groups', defaultUserGroupId: 'g-default' };
      expect(mapIdentity({ ...claims, groups: ['devs'] }, settings).groupIds).toEqual(['g-default']);
    });

    it('should not map through inherited object keys', () => {
      const settings = { ...base, customUserGroupField: 'groups', userGroupMapping: mapping };
      expect(mapIdentity({ ...claims, groups: ['constructor', 'toString'] }, settings).groupIds).toEqual([]);
    });
  });

  describe('domain constraint', () => {
    it('should allow any email without a constraint', () => {
      expect(mapIdentity(claims, base).email).toBe('ada@example.com');
    });

    it('should allow the domain and its subdomains, case-insensitively', () => {
      expect(mapIdentity(claims, { ...base, domain: 'example.com' }).email).toBe('ada@example.com');
      expect(mapIdentity({ ...claims, email: 'ada@EU.Example.COM' }, { ...base, domain: 'example.com' }).email).toBe(
        'ada@EU.Example.COM',
      );
    });

    it('should fail with domain_not_allowed for another domain', () => {
      expect(codeOf(() => mapIdentity({ ...claims, email: 'ada@other.org' }, { ...base, domain: 'example.com' }))).toBe(
        'domain_not_allowed',
      );
    });

    it('should not be fooled by a domain that merely ends with the same letters', () => {
      expect(
        codeOf(() => mapIdentity({ ...claims, email: 'eve@evilexample.com' }, { ...base, domain: 'example.com' })),
      ).toBe('domain_not_allowed');
    });

    it('should pin the exact domain when the constraint starts with @', () => {
      const settings = { ...base, domain: '@example.com' };
      expect(mapIdentity(claims, settings).email).toBe('ada@example.com');
      expect(codeOf(() => mapIdentity({ ...claims, email: 'ada@eu.example.com' }, settings))).toBe(
        'domain_not_allowed',
      );
    });
  });

  describe('organisation', () => {
    it('should read the default organisation claims', () => {
      const id = mapIdentity({ ...claims, organization_id: 'org-7', organization_name: 'Acme' }, base);
      expect(id.organisationId).toBe('org-7');
      expect(id.organisationName).toBe('Acme');
    });

    it('should read configured organisation claims and give null when absent', () => {
      const settings = { ...base, organisationClaim: 'org_id', organisationNameClaim: 'org_name' };
      expect(mapIdentity({ ...claims, org_id: 'o-1', organization_id: 'ignored' }, settings).organisationId).toBe(
        'o-1',
      );
      const id = mapIdentity(claims, settings);
      expect(id.organisationId).toBeNull();
      expect(id.organisationName).toBeNull();
    });

    it('should refuse an organisation id with surrounding whitespace, never pass on a variant of another id (review finding 4)', () => {
      for (const organization_id of [' acme', 'acme ', '\tacme', 'acme\u00a0', '  ']) {
        expect(codeOf(() => mapIdentity({ ...claims, organization_id }, base))).toBe('id_token_invalid');
      }
      expect(mapIdentity({ ...claims, organization_id: 'acme corp' }, base).organisationId).toBe('acme corp');
    });

    it('should use organization_id when the configured claim name is empty', () => {
      const settings = { ...base, organisationClaim: '', organisationNameClaim: '' };
      expect(mapIdentity({ ...claims, organization_id: 'org-9' }, settings).organisationId).toBe('org-9');
    });
  });

  describe('text Postgres cannot store (NUL, unpaired surrogates) and oversized identifiers', () => {
    it('should refuse such an email, subject, user id or organisation id with a code, never pass it on', () => {
      expect(codeOf(() => mapIdentity({ ...claims, email: 'ada\u0000@example.com' }, base))).toBe('email_missing');
      expect(codeOf(() => mapIdentity({ ...claims, email: 'ada\ud800@example.com' }, base))).toBe('email_missing');
      expect(codeOf(() => mapIdentity({ ...claims, email: `${'a'.repeat(320)}@example.com` }, base))).toBe(
        'email_missing',
      );
      expect(codeOf(() => mapIdentity({ ...claims, sub: 'u\u0000' }, base))).toBe('id_token_invalid');
      expect(codeOf(() => mapIdentity({ ...claims, sub: 's'.repeat(256) }, base))).toBe('id_token_invalid');
      expect(codeOf(() => mapIdentity({ ...claims, uid: 'x\udc00' }, { ...base, customUserIdField: 'uid' }))).toBe(
        'id_token_invalid',
      );
      expect(codeOf(() => mapIdentity({ ...claims, organization_id: 'org\u0000' }, base))).toBe('id_token_invalid');
      expect(codeOf(() => mapIdentity({ ...claims, organization_id: 'o'.repeat(201) }, base))).toBe('id_token_invalid');
    });

    it('should repair names, which are only shown (U+FFFD for each bad character)', () => {
      const id = mapIdentity(
        { ...claims, given_name: 'A\u0000da', family_name: 'Love\ud800lace', organization_name: 'Acme\udc00' },
        base,
      );
      expect(id.firstName).toBe('A\ufffdda');
      expect(id.lastName).toBe('Love\ufffdlace');
      expect(id.displayName).toBe('A\ufffdda Love\ufffdlace');
      expect(id.organisationName).toBe('Acme\ufffd');
    });
  });
});
