import { readFileSync } from 'node:fs';
import { parseOrganisationSyncSettings } from '@app/common';
import {
  PROFILE_LIMITS,
  decodeProfile,
  decodeProfileOrThrow,
  isProfileId,
  providerConfigString,
  providerSettings,
  socialProvider,
} from './profile.codec.js';

const fixture = JSON.parse(
  readFileSync(new URL('../../../test/fixtures/tib/profiles.json', import.meta.url), 'utf8'),
) as unknown[];

const CANONICAL_ORDER = [
  'ID',
  'Name',
  'OrgID',
  'ActionType',
  'MatchedPolicyID',
  'Type',
  'ProviderName',
  'CustomEmailField',
  'CustomUserIDField',
  'ProviderConfig',
  'IdentityHandlerConfig',
  'ProviderConstraints',
  'ReturnURL',
  'DefaultUserGroupID',
  'CustomUserGroupField',
  'UserGroupMapping',
  'UserGroupSeparator',
  'SSOOnlyForRegisteredUsers',
];

const minimal = (over: Record<string, unknown> = {}) => ({
  ID: 'p1',
  ActionType: 'GenerateOrLoginDeveloperProfile',
  ProviderName: 'SocialProvider',
  ProviderConfig: {
    CallbackBaseURL: 'http://localhost:3010',
    UseProviders: [
      {
        Name: 'openid-connect',
        Key: 'client',
        Secret: 's3cret',
        DiscoverURL: 'https://idp/.well-known/openid-configuration',
      },
    ],
  },
  ...over,
});

describe('decodeProfile', () => {
  it('should decode the integration guide fixture as it is, with every field in TIB order', () => {
    const profile = decodeProfileOrThrow(fixture[0]);
    expect(Object.keys(profile)).toEqual(CANONICAL_ORDER);
    expect(profile.ID).toBe('1');
    expect(profile.UserGroupMapping).toBeNull();
    expect(profile.ProviderConstraints).toEqual({ Domain: '', Group: '' });
    expect(profile.SSOOnlyForRegisteredUsers).toBe(false);
    expect(socialProvider(profile, 'openid-connect')).toMatchObject({
      Key: '1774d147a16a43528e2f0434af896900',
      SkipUserInfoRequest: true,
    });
  });

  it('should read keys case-insensitively, keeping ProviderConfig and IdentityHandlerConfig as sent', () => {
    const profile = decodeProfileOrThrow({
      id: 'p1',
      actiontype: 'GenerateOrLoginDeveloperProfile',
      PROVIDERNAME: 'SocialProvider',
      returnurl: 'http://portal/sso',
      providerconfig: {
        callbackbaseurl: 'http://localhost:3010',
        useproviders: [
          { name: 'openid-connect', key: 'k', discoverurl: 'https://idp/.well-known/openid-configuration', extra: 1 },
        ],
        SomethingElse: { keep: 'As Sent' },
      },
      identityhandlerconfig: { dashboardcredential: 'x', Custom: true },
      usergroupmapping: { devs: '2' },
    });
    expect(profile.ReturnURL).toBe('http://portal/sso');
    // Stored and served as sent (TIB keeps them as free-form values): casing, keys and order.
    expect(JSON.stringify(profile.ProviderConfig)).toBe(
      '{"callbackbaseurl":"http://localhost:3010","useproviders":[{"name":"openid-connect","key":"k",' +
        '"discoverurl":"https://idp/.well-known/openid-configuration","extra":1}],"SomethingElse":{"keep":"As Sent"}}',
    );
    expect(JSON.stringify(profile.IdentityHandlerConfig)).toBe('{"dashboardcredential":"x","Custom":true}');
    // The broker reads them case-insensitively, as TIB's Go decoding does.
    expect(providerSettings(profile)).toEqual({
      CallbackBaseURL: 'http://localhost:3010',
      UseProviders: [
        { Name: 'openid-connect', Key: 'k', DiscoverURL: 'https://idp/.well-known/openid-configuration', extra: 1 },
      ],
      SomethingElse: { keep: 'As Sent' },
    });
    expect(socialProvider(profile, 'openid-connect')).toMatchObject({ Key: 'k' });
    expect(providerConfigString(profile, 'CallbackBaseURL')).toBe('http://localhost:3010');
    expect(profile.UserGroupMapping).toEqual({ devs: '2' });
  });

  it('should accept both SAML spellings IDPMetaDataURL and IDPMetadataURL', () => {
    for (const key of ['IDPMetaDataURL', 'IDPMetadataURL']) {
      const profile = decodeProfileOrThrow({
        ID: 's',
        ActionType: 'GenerateOrLoginUserProfile',
        ProviderName: 'SAMLProvider',
        ProviderConfig: { [key]: 'http://idp/metadata' },
      });
      expect(profile.ProviderConfig).toEqual({ [key]: 'http://idp/metadata' });
      expect(providerSettings(profile)).toEqual({ IDPMetadataURL: 'http://idp/metadata' });
    }
  });

  it("should keep both spellings of a key as sent and read the one TIB's provider would read", () => {
    // TIB re-marshals ProviderConfig (a Go map: keys in byte order) and its provider's json.Unmarshal
    // lets the last case-insensitive match win: `callbackBaseURL` sorts after `CallbackBaseURL`.
    const sent = {
      callbackBaseURL: 'http://localhost:3010',
      CallbackBaseURL: 'ftp://not-read',
      UseProviders: [
        {
          Name: 'openid-connect',
          Key: 'read-not',
          key: 'k',
          DiscoverURL: 'https://idp/.well-known/openid-configuration',
        },
      ],
    };
    const profile = decodeProfileOrThrow(minimal({ ProviderConfig: sent }));
    expect(JSON.stringify(profile.ProviderConfig)).toBe(JSON.stringify(sent));
    expect(providerConfigString(profile, 'CallbackBaseURL')).toBe('http://localhost:3010');
    expect(socialProvider(profile, 'openid-connect')).toMatchObject({ Key: 'k' });
    // What is validated is that same reading: here the one TIB's provider would use is refused.
    const refused = decodeProfile(
      minimal({ ProviderConfig: { ...sent, callbackBaseURL: 'ftp://read', CallbackBaseURL: 'http://localhost:3010' } }),
    );
    expect(refused.problems).toEqual([{ path: 'ProviderConfig.CallbackBaseURL', reason: 'must be an http(s) URL' }]);
  });

  it("should match keys with Go's folding: the long s and the Kelvin sign fold into ASCII, dotless and dotted i do not", () => {
    // encoding/json folds each rune to the smallest of its SimpleFold orbit: ſ (U+017F) is in s/S's
    // orbit and K (U+212A) in k/K's; ı (U+0131) and İ (U+0130) are alone in theirs.
    const profile = decodeProfileOrThrow(
      minimal({
        ProviderConfig: {
          CallbackBaſeURL: 'http://localhost:3010',
          UseProviders: [
            {
              Name: 'openid-connect',
              Key: 'k',
              DıscoverURL: 'https://other/.well-known/openid-configuration',
              DiscoverURL: 'https://idp/.well-known/openid-configuration',
            },
          ],
        },
      }),
    );
    expect(providerConfigString(profile, 'CallbackBaseURL')).toBe('http://localhost:3010');
    expect(socialProvider(profile, 'openid-connect')).toMatchObject({
      Key: 'k',
      // DıscoverURL sorts after DiscoverURL, so it would be the one read if ı folded to i.
      DiscoverURL: 'https://idp/.well-known/openid-configuration',
    });
    // The top level too, as TIB's struct decoding reads it; and of two matches the last one sent wins.
    const top = decodeProfileOrThrow(
      minimal({
        ſSOOnlyForRegisteredUsers: true,
        ProviderConstraints: { Domain: 'a.example' },
        ProviderConſtraints: { Domain: 'b.example' },
      }),
    );
    expect(top.SSOOnlyForRegisteredUsers).toBe(true);
    expect(top.ProviderConstraints).toEqual({ Domain: 'b.example', Group: '' });
  });

  it('should drop unknown top-level keys', () => {
    const profile = decodeProfileOrThrow(minimal({ Whatever: 1 }));
    expect(Object.keys(profile)).toEqual(CANONICAL_ORDER);
  });

  it.each([
    [{ ID: '' }, 'ID'],
    [{ ID: 'a/b' }, 'ID'],
    [{ ID: 'x'.repeat(129) }, 'ID'],
    [{ ID: 7 }, 'ID'],
    [{ ActionType: 'Nope' }, 'ActionType'],
    [{ ProviderName: 'Nope' }, 'ProviderName'],
    [{ ReturnURL: 'javascript:alert(1)' }, 'ReturnURL'],
    [{ UserGroupMapping: { a: 1 } }, 'UserGroupMapping.a'],
    [{ UserGroupMapping: [] }, 'UserGroupMapping'],
    [{ SSOOnlyForRegisteredUsers: 'yes' }, 'SSOOnlyForRegisteredUsers'],
    [{ IdentityHandlerConfig: { dashboardcredential: 5 } }, 'IdentityHandlerConfig.DashboardCredential'],
    [{ ProviderConfig: { CallbackBaseURL: 'ftp://x', UseProviders: [] } }, 'ProviderConfig.CallbackBaseURL'],
    [
      { ProviderConfig: { CallbackBaseURL: 'http://x', FailureRedirect: 'nope', UseProviders: [] } },
      'ProviderConfig.FailureRedirect',
    ],
    [
      {
        ProviderConfig: {
          CallbackBaseURL: 'http://x',
          UseProviders: [{ Name: 'openid-connect', DiscoverURL: 'http://i' }],
        },
      },
      'ProviderConfig.UseProviders[0].Key',
    ],
    [
      { ProviderConfig: { CallbackBaseURL: 'http://x', UseProviders: [{ Name: 'openid-connect', Key: 'k' }] } },
      'ProviderConfig.UseProviders[0].DiscoverURL',
    ],
    [
      { IdentityHandlerConfig: { OrganisationSync: { Enabled: 'yes' } } },
      'IdentityHandlerConfig.OrganisationSync.Enabled',
    ],
    // What the login path's parser refuses is refused at save, or every login would fail instead.
    [
      { IdentityHandlerConfig: { OrganizationSync: { Enabled: 'yes' } } },
      'IdentityHandlerConfig.OrganizationSync.Enabled',
    ],
    [
      { IdentityHandlerConfig: { OrganisationSync: { Enabled: true, IdClaim: ' ' } } },
      'IdentityHandlerConfig.OrganisationSync.IdClaim',
    ],
    [
      { IdentityHandlerConfig: { OrganisationSync: { NameClaim: '' } } },
      'IdentityHandlerConfig.OrganisationSync.NameClaim',
    ],
    [
      { IdentityHandlerConfig: { OrganisationSync: { RoleClaim: ' ' } } },
      'IdentityHandlerConfig.OrganisationSync.RoleClaim',
    ],
    [
      { IdentityHandlerConfig: { OrganisationSync: { TeamMapping: { '': '7' } } } },
      'IdentityHandlerConfig.OrganisationSync.TeamMapping',
    ],
    [{ IdentityHandlerConfig: { organizationsync: [] } }, 'IdentityHandlerConfig.OrganizationSync'],
  ])('should refuse %j naming %s', (over, path) => {
    const result = decodeProfile(minimal(over));
    expect(result.profile).toBeNull();
    expect(result.problems.map((p) => p.path)).toContain(path);
  });

  it('should refuse at save every OrganisationSync the login path would refuse, with its reason', () => {
    for (const sync of [
      { OrganizationSync: { Enabled: 'yes' } },
      { OrganisationSync: { Enabled: true, IdClaim: ' ' } },
      { OrganisationSync: { TeamMapping: { ' ': 'team' } } },
      { OrganisationSync: { RoleMapping: { admins: 'admin' } } },
    ]) {
      const login = (() => {
        try {
          parseOrganisationSyncSettings(sync);
          return null;
        } catch (error) {
          return (error as Error).message;
        }
      })();
      const result = decodeProfile(minimal({ IdentityHandlerConfig: sync }));
      expect(login).not.toBeNull();
      expect(result.problems.map((p) => `${p.path}: ${p.reason}`).join('; ')).toBe(login);
    }
  });

  it('should accept the American OrganizationSync spelling when it is valid, as the login path reads it', () => {
    const profile = decodeProfileOrThrow(
      minimal({ IdentityHandlerConfig: { OrganizationSync: { Enabled: true, TeamMapping: { 'ce-1': 4 } } } }),
    );
    expect(profile.IdentityHandlerConfig).toEqual({ OrganizationSync: { Enabled: true, TeamMapping: { 'ce-1': 4 } } });
  });

  it('should store LDAP, Proxy and SAML profiles unchanged even though logins through them are not supported', () => {
    const ldap = {
      ID: 'ldap',
      ActionType: 'GenerateOrLoginUserProfile',
      ProviderName: 'ADProvider',
      ProviderConfig: { LDAPServer: 'ldap.example', LDAPPort: '389' },
    };
    expect(decodeProfileOrThrow(ldap).ProviderConfig).toEqual({ LDAPServer: 'ldap.example', LDAPPort: '389' });
  });

  it('should refuse a plain-http DiscoverURL to a non-loopback host unless ProviderConfig.AllowInsecureHttp is true', () => {
    const withDiscover = (discoverUrl: string, extra: Record<string, unknown> = {}) =>
      minimal({
        ProviderConfig: {
          CallbackBaseURL: 'http://localhost:3010',
          ...extra,
          UseProviders: [{ Name: 'openid-connect', Key: 'k', DiscoverURL: discoverUrl }],
        },
      });
    const refused = decodeProfile(withDiscover('http://idp.example.com/.well-known/openid-configuration'));
    expect(refused.profile).toBeNull();
    expect(refused.problems).toEqual([
      {
        path: 'ProviderConfig.UseProviders[0].DiscoverURL',
        reason: expect.stringContaining('ProviderConfig.AllowInsecureHttp') as unknown,
      },
    ]);
    for (const url of [
      'https://idp.example.com/.well-known/openid-configuration',
      'http://127.0.0.1:4000/.well-known/openid-configuration',
      'http://[::1]:4000/.well-known/openid-configuration',
      'http://localhost:4000/t/.well-known/openid-configuration',
    ]) {
      expect(decodeProfile(withDiscover(url)).problems).toEqual([]);
    }
    const allowed = decodeProfileOrThrow(
      withDiscover('http://idp.example.com/.well-known/openid-configuration', { allowinsecurehttp: true }),
    );
    expect((allowed.ProviderConfig as Record<string, unknown>).allowinsecurehttp).toBe(true);
    expect(providerSettings(allowed)?.AllowInsecureHttp).toBe(true);
    expect(decodeProfile(withDiscover('https://idp/x', { AllowInsecureHttp: 'yes' })).problems).toEqual([
      { path: 'ProviderConfig.AllowInsecureHttp', reason: 'must be a boolean' },
    ]);
  });

  it('should name the array index in errors thrown for a file entry', () => {
    expect(() => decodeProfileOrThrow(minimal({ ActionType: 'x' }), '[3].')).toThrow(/\[3\]\.ActionType/);
  });

  it('should refuse NUL and unpaired surrogates in any field, keys included, naming each path', () => {
    const doc = minimal({ CustomUserGroupField: 'groups\u0000' }) as Record<string, unknown> & {
      ProviderConfig: { UseProviders: Record<string, unknown>[] };
    };
    doc.ProviderConfig.UseProviders[0].Name = 'openid-connect\ud800';
    doc.IdentityHandlerConfig = { Extra: { ['k\udc00']: 'v' } };
    const result = decodeProfile(doc);
    expect(result.profile).toBeNull();
    expect(result.problems).toEqual([
      { path: 'ProviderConfig.UseProviders[0].Name', reason: 'must not contain an unpaired UTF-16 surrogate' },
      { path: 'CustomUserGroupField', reason: 'must not contain a NUL character (U+0000)' },
      { path: 'IdentityHandlerConfig.Extra.k\ufffd', reason: 'key must not contain an unpaired UTF-16 surrogate' },
    ]);
    // A well-formed pair (an emoji) is fine.
    expect(decodeProfile(minimal({ Name: 'Sign in 😀' })).profile?.Name).toBe('Sign in 😀');
  });

  it('should bound every field: strings, keys, entries and depth (README "Profiles")', () => {
    const long = 'x'.repeat(PROFILE_LIMITS.maxStringLength + 1);
    const deep: Record<string, unknown> = {};
    let node = deep;
    for (let i = 0; i < PROFILE_LIMITS.maxDepth + 2; i++) node = node.a = {};
    const cases: [Record<string, unknown>, string][] = [
      [minimal({ Name: long }), 'Name: must be at most 2048 characters'],
      [
        minimal({ ProviderConfig: { ...minimal().ProviderConfig, CallbackBaseURL: `http://x/${long}` } }),
        'ProviderConfig.CallbackBaseURL: must be at most 2048 characters',
      ],
      [minimal({ UserGroupMapping: { ['k'.repeat(257)]: 'g' } }), 'must be at most 256 characters'],
      [
        minimal({ UserGroupMapping: Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`g${i}`, 'x'])) }),
        'UserGroupMapping: must have at most 1000 entries',
      ],
      [minimal({ IdentityHandlerConfig: deep }), 'nests deeper than 16 levels'],
    ];
    for (const [doc, message] of cases) {
      expect(() => decodeProfileOrThrow(doc)).toThrow(message);
    }
    expect(decodeProfile(minimal({ Name: 'x'.repeat(PROFILE_LIMITS.maxStringLength) })).profile).not.toBeNull();
  });
});

describe('decodeProfile with a __proto__ key (JSON.parse keeps it as an ordinary key)', () => {
  it('should validate and keep it as an own key, never as the prototype of the stored object', () => {
    // Inherited values would pass validation (CallbackBaseURL, UseProviders from the prototype)
    // while the stored ProviderConfig lacked them: a SocialProvider profile the rules refuse.
    const body = JSON.parse(
      '{"ID":"pp","ActionType":"GenerateOrLoginDeveloperProfile","ProviderName":"SocialProvider",' +
        '"ProviderConfig":{"__proto__":{"CallbackBaseURL":"http://x.example","UseProviders":[]}}}',
    ) as unknown;
    const result = decodeProfile(body);
    expect(result.profile).toBeNull();
    expect(result.problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['ProviderConfig.CallbackBaseURL', 'ProviderConfig.UseProviders']),
    );
  });

  it('should round-trip __proto__ keys as sent, as TIB stores them', () => {
    const body = JSON.parse(
      JSON.stringify(minimal()).replace('"ProviderConfig":{', '"ProviderConfig":{"__proto__":{"x":1},') + '',
    ) as Record<string, unknown>;
    (body as { UserGroupMapping?: unknown }).UserGroupMapping = JSON.parse('{"__proto__":"admins","devs":"g1"}');
    const profile = decodeProfileOrThrow(body);
    expect(Object.getPrototypeOf(profile.ProviderConfig)).toBe(Object.prototype);
    expect(JSON.stringify(profile.ProviderConfig)).toContain('"__proto__":{"x":1}');
    expect(JSON.stringify(profile.UserGroupMapping)).toBe('{"__proto__":"admins","devs":"g1"}');
  });
});

describe('isProfileId', () => {
  it('should take exactly the IDs a profile can be stored with', () => {
    expect(isProfileId('a'.repeat(128))).toBe(true);
    expect(decodeProfile({ ...(fixture[0] as object), ID: 'a'.repeat(128) }).profile).not.toBeNull();
    expect(isProfileId('load.test_1-A')).toBe(true);
    for (const id of ['', 'a'.repeat(129), 'a'.repeat(1024 * 1024), 'a\u0000b', 'a\ud800b', "x' OR '1'='1", 'a/b']) {
      expect(isProfileId(id)).toBe(false);
      // The codec refuses each of them as an ID, so none can name a stored profile.
      expect(decodeProfile({ ...(fixture[0] as object), ID: id }).profile).toBeNull();
    }
  });
});
