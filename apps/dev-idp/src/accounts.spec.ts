import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AccountDirectory, SEEDED_ACCOUNTS, accountClaims, parseAccount, parseAccounts } from './accounts.js';

describe('dev IdP accounts', () => {
  it('should seed at least five developers in two organisations, one with an unverified email', () => {
    expect(SEEDED_ACCOUNTS.length).toBeGreaterThanOrEqual(5);
    const orgs = new Set(SEEDED_ACCOUNTS.map((a) => a.organization_id).filter(Boolean));
    expect([...orgs].sort()).toEqual(['acme', 'globex']);
    expect(SEEDED_ACCOUNTS.filter((a) => !a.email_verified).map((a) => a.sub)).toEqual(['dave']);
    expect(new Set(SEEDED_ACCOUNTS.map((a) => a.sub)).size).toBe(SEEDED_ACCOUNTS.length);
  });

  it('should fill defaults for optional fields and reject malformed accounts', () => {
    expect(parseAccount({ sub: 's1', email: 's1@x.example', given_name: 'Sam', family_name: 'One' }, 'T')).toEqual({
      sub: 's1',
      email: 's1@x.example',
      email_verified: true,
      name: 'Sam One',
      given_name: 'Sam',
      family_name: 'One',
      groups: [],
    });
    expect(() => parseAccount({ email: 'a@b.example' }, 'T')).toThrow(/sub is required/);
    expect(() => parseAccount({ sub: 'a' }, 'T')).toThrow(/email is required/);
    expect(() => parseAccount({ sub: 'a', email: 'a@b', email_verified: 'yes' }, 'T')).toThrow(/email_verified/);
    expect(() => parseAccount({ sub: 'a', email: 'a@b', groups: 'dev' }, 'T')).toThrow(/groups/);
    expect(() => parseAccounts('{"sub":"a"}', 'DEV_IDP_USERS')).toThrow(/JSON array/);
    expect(() => parseAccounts('not json', 'DEV_IDP_USERS')).toThrow(/not valid JSON/);
  });

  it('should let DEV_IDP_USERS override seeded accounts and re-read the users file on every lookup', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'dev-idp-acc-')), 'users.json');
    const errors: string[] = [];
    const directory = new AccountDirectory({
      extra: [parseAccount({ sub: 'alice', email: 'alice@new.example', organization_id: 'initech' }, 'T')],
      usersFile: file,
      onFileError: (m) => errors.push(m),
    });
    expect(directory.find('alice')?.email).toBe('alice@new.example');
    expect(directory.find('alice')?.organization_name).toBe('initech');
    expect(directory.find('ghost')).toBeUndefined();

    writeFileSync(file, JSON.stringify([{ sub: 'ghost', email: 'g@x.example', organization_id: 'acme' }]));
    expect(directory.find('ghost')?.organization_id).toBe('acme');
    writeFileSync(file, JSON.stringify([{ sub: 'ghost', email: 'g@x.example', organization_id: 'globex' }]));
    expect(directory.find('ghost')?.organization_id).toBe('globex');

    writeFileSync(file, '{broken');
    expect(directory.find('ghost')).toBeUndefined();
    expect(errors).toEqual(['DEV_IDP_USERS_FILE: not valid JSON']);
    expect(() => directory.checkUsersFile()).toThrow(/not valid JSON/);
  });

  it('should leave absent organisation claims out of the claim set', () => {
    const frank = SEEDED_ACCOUNTS.find((a) => a.sub === 'frank')!;
    const claims = accountClaims(frank);
    expect(claims.sub).toBe('frank');
    expect('organization_id' in claims).toBe(false);
    expect(claims.groups).toEqual([]);
  });

  it('should release broker roles for staff accounts given roles, and refuse roles that are not strings', () => {
    const staff = parseAccount({ sub: 'sam', email: 'sam@sec.example', roles: ['broker:auditor'] }, 'DEV_IDP_USERS[0]');
    expect(accountClaims(staff).roles).toEqual(['broker:auditor']);
    expect('roles' in accountClaims(SEEDED_ACCOUNTS[0])).toBe(false);
    expect(() => parseAccount({ sub: 'x', email: 'x@y.example', roles: [1] }, 'DEV_IDP_USERS[1]')).toThrow(
      /roles must be an array of strings/,
    );
  });
});
