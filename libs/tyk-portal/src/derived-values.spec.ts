import {
  DEFAULT_SSO_EMAIL,
  appendNonce,
  appendTokenFragment,
  deriveDisplayName,
  deriveEmail,
  deriveGroupIds,
  deriveUserId,
  primaryGroupId,
  ssoKey,
  ssoKeyPathSegment,
  tokenCacheKey,
  type GroupIdRules,
} from './derived-values.js';

const MAPPING = { devs: 'devs-group', admins: 'admins-group' };

function rules(over: Partial<GroupIdRules> = {}): GroupIdRules {
  return {
    CustomUserGroupField: '',
    DefaultUserGroupID: '',
    UserGroupMapping: MAPPING,
    UserGroupSeparator: '',
    ...over,
  };
}

describe('deriveGroupIds (TIB GetGroupId)', () => {
  // TIB's own golden cases (tap/identity-handlers/tyk_handler_test.go), plus the list rules of tib.md §5.
  it('should return [] when there is no group field and no default', () => {
    expect(deriveGroupIds({}, rules())).toEqual([]);
  });

  it('should return [default] when there is no group field but a default', () => {
    expect(deriveGroupIds({ groups: 'admins' }, rules({ DefaultUserGroupID: 'default-group-id' }))).toEqual([
      'default-group-id',
    ]);
  });

  it('should fall back to the default when the claim is missing or null', () => {
    const r = rules({ CustomUserGroupField: 'groups', DefaultUserGroupID: 'dflt' });
    expect(deriveGroupIds({}, r)).toEqual(['dflt']);
    expect(deriveGroupIds({ groups: null }, r)).toEqual(['dflt']);
    expect(deriveGroupIds({}, { ...r, DefaultUserGroupID: '' })).toEqual([]);
  });

  it('should map a string claim split on the default space separator', () => {
    const r = rules({ CustomUserGroupField: 'groups' });
    expect(deriveGroupIds({ groups: 'admins' }, r)).toEqual(['admins-group']);
    expect(deriveGroupIds({ groups: 'devs admins' }, r)).toEqual(['devs-group', 'admins-group']);
  });

  it('should split on a custom separator such as a comma', () => {
    const r = rules({ CustomUserGroupField: 'groups', UserGroupSeparator: ',' });
    expect(deriveGroupIds({ groups: 'admins,devs' }, r)).toEqual(['admins-group', 'devs-group']);
    // With a comma separator the space-joined value is one unknown group.
    expect(deriveGroupIds({ groups: 'admins devs' }, r)).toEqual([]);
  });

  it('should take an array claim item by item, in claim order, dropping unmapped entries', () => {
    const r = rules({
      CustomUserGroupField: 'memberOf',
      UserGroupMapping: { 'CN=tyk-admin,OU=Groups,DC=example,DC=com': 'tyk-admin', 'CN=other': 'other-id' },
    });
    expect(
      deriveGroupIds({ memberOf: ['CN=nobody', 'CN=tyk-admin,OU=Groups,DC=example,DC=com', 'CN=other'] }, r),
    ).toEqual(['tyk-admin', 'other-id']);
  });

  it('should prefer a mapping match over the default and use the default when nothing maps', () => {
    const r = rules({ CustomUserGroupField: 'groups', DefaultUserGroupID: 'devs' });
    expect(deriveGroupIds({ groups: 'admins' }, r)).toEqual(['admins-group']);
    expect(deriveGroupIds({ groups: 'unknown' }, r)).toEqual(['devs']);
  });

  it('should skip odd values instead of panicking as Go does', () => {
    const r = rules({ CustomUserGroupField: 'groups', DefaultUserGroupID: 'd' });
    expect(deriveGroupIds({ groups: [1, { a: 1 }, 'devs'] }, r)).toEqual(['devs-group']);
    expect(deriveGroupIds({ groups: { devs: true } }, r)).toEqual(['d']);
    expect(deriveGroupIds({ groups: 'devs' }, { ...r, UserGroupMapping: null })).toEqual(['d']);
  });

  it('should not treat inherited object keys as mapped groups', () => {
    const r = rules({ CustomUserGroupField: 'groups' });
    expect(deriveGroupIds({ groups: 'constructor toString' }, r)).toEqual([]);
  });
});

describe('primaryGroupId (TIB GroupID)', () => {
  it('should be the first group id, or "" for none', () => {
    expect(primaryGroupId(['9', '11'])).toBe('9');
    expect(primaryGroupId([])).toBe('');
  });
});

describe('deriveEmail (TIB GetEmail)', () => {
  it('should use the standard email when no custom field is set', () => {
    expect(deriveEmail({}, 'test@tyk.io', '')).toBe('test@tyk.io');
  });

  it('should fall back to ssoSession@ssoSession.com when there is no email at all', () => {
    expect(deriveEmail({}, '', '')).toBe(DEFAULT_SSO_EMAIL);
    expect(deriveEmail({}, '', 'myEmailField')).toBe('ssoSession@ssoSession.com');
  });

  it('should prefer the custom field when it holds a string, else the standard email', () => {
    expect(deriveEmail({ myEmailField: 'custom@tyk.io' }, 'std@tyk.io', 'myEmailField')).toBe('custom@tyk.io');
    expect(deriveEmail({ myEmailField: 42 }, 'std@tyk.io', 'myEmailField')).toBe('std@tyk.io');
    expect(deriveEmail({ myEmailField: '' }, 'std@tyk.io', 'myEmailField')).toBe('std@tyk.io');
  });
});

describe('deriveUserId (TIB GetUserID)', () => {
  it('should use the subject unless the custom id claim is present', () => {
    expect(deriveUserId({}, 'user-id', '')).toBe('user-id');
    expect(deriveUserId({}, 'user-id', 'myIdField')).toBe('user-id');
    expect(deriveUserId({ myIdField: 'customId' }, 'user-id', 'myIdField')).toBe('customId');
  });
});

describe('deriveDisplayName', () => {
  it('should join the name parts that exist, else use the email', () => {
    expect(deriveDisplayName('Ada', 'Lovelace', 'a@x.io')).toBe('Ada Lovelace');
    expect(deriveDisplayName('Ada', '', 'a@x.io')).toBe('Ada');
    expect(deriveDisplayName('', 'Lovelace', 'a@x.io')).toBe('Lovelace');
    expect(deriveDisplayName('', '', 'a@x.io')).toBe('a@x.io');
  });
});

describe('ssoKey', () => {
  it('should be <userId>@<provider>.com', () => {
    expect(ssoKey('00u1ab', 'openid-connect')).toBe('00u1ab@openid-connect.com');
  });

  it('should escape the key for the path as Go url.QueryEscape does', () => {
    expect(ssoKeyPathSegment('00u1ab@openid-connect.com')).toBe('00u1ab%40openid-connect.com');
    expect(ssoKeyPathSegment('a b/c@p.com')).toBe('a+b%2Fc%40p.com');
  });

  it('should build the identity-cache key as TIB names it in Redis', () => {
    expect(tokenCacheKey('7', ssoKey('sub-1', 'openid-connect'))).toBe('identity-cache.7-sub-1@openid-connect.com');
  });
});

describe('appendNonce', () => {
  it('should add ?nonce= to a plain ReturnURL exactly as TIB does', () => {
    expect(appendNonce('http://portal:3001/sso', 'abc123')).toBe('http://portal:3001/sso?nonce=abc123');
  });

  it('should join with & when the ReturnURL already has a query', () => {
    expect(appendNonce('https://p.example/sso?lang=en', 'n1')).toBe('https://p.example/sso?lang=en&nonce=n1');
  });

  it('should not double a trailing ? or &', () => {
    expect(appendNonce('https://p.example/sso?', 'n1')).toBe('https://p.example/sso?nonce=n1');
    expect(appendNonce('https://p.example/sso?a=1&', 'n1')).toBe('https://p.example/sso?a=1&nonce=n1');
  });

  it('should keep a #fragment at the end', () => {
    expect(appendNonce('https://p.example/sso#top', 'n1')).toBe('https://p.example/sso?nonce=n1#top');
    expect(appendNonce('https://p.example/sso?x=y#a?b', 'n1')).toBe('https://p.example/sso?x=y&nonce=n1#a?b');
  });

  it('should URL-encode the nonce', () => {
    expect(appendNonce('https://p.example/sso', 'a+b/c=&d')).toBe('https://p.example/sso?nonce=a%2Bb%2Fc%3D%26d');
    const url = new URL(appendNonce('https://p.example/sso?x=1#f', 'a+b/c=&d'));
    expect(url.searchParams.get('nonce')).toBe('a+b/c=&d');
    expect(url.searchParams.get('x')).toBe('1');
    expect(url.hash).toBe('#f');
  });
});

describe('appendTokenFragment', () => {
  it('should add #token= as TIB does', () => {
    expect(appendTokenFragment('http://app.example/cb', 'abc123')).toBe('http://app.example/cb#token=abc123');
  });

  it('should keep base64 key characters and an existing query, and escape fragment separators', () => {
    expect(appendTokenFragment('http://app.example/cb?x=1', 'eyJ+a/b==')).toBe(
      'http://app.example/cb?x=1#token=eyJ+a/b==',
    );
    expect(appendTokenFragment('http://app.example/cb', 'a&b#c')).toBe('http://app.example/cb#token=a%26b%23c');
  });

  it('should add the token to an existing fragment with &', () => {
    expect(appendTokenFragment('http://app.example/cb#state=1', 'k')).toBe('http://app.example/cb#state=1&token=k');
  });
});
