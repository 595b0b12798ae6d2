import { decodeProfileOrThrow } from '@app/profiles';
import { riskySettings } from './risky-settings.js';

const profile = (over: Record<string, unknown> = {}, config: Record<string, unknown> = {}) =>
  decodeProfileOrThrow({
    ID: 'p',
    ActionType: 'GenerateOrLoginDeveloperProfile',
    ProviderName: 'SocialProvider',
    ProviderConfig: {
      CallbackBaseURL: 'https://sso.example.com',
      FailureRedirect: 'https://portal.example.com/?fail=true',
      UseProviders: [
        {
          Name: 'openid-connect',
          Key: 'k',
          Secret: 's',
          DiscoverURL: 'https://idp.example.com/.well-known/openid-configuration',
        },
      ],
      ...config,
    },
    ReturnURL: 'https://portal.example.com/sso',
    ...over,
  });

const status = (p: ReturnType<typeof profile>) => Object.fromEntries(riskySettings(p).map((i) => [i.check, i.status]));

describe("the doctor's risky settings (profile only, no I/O)", () => {
  it('should pass a profile with https everywhere, FailureRedirect and no email overrides', () => {
    expect(status(profile())).toEqual({
      HTTPS: 'pass',
      CustomEmailField: 'pass',
      AllowUnverifiedEmail: 'pass',
      FailureRedirect: 'pass',
    });
  });

  it('should fail plain http beyond this machine, naming the field, and let loopback through', () => {
    const items = riskySettings(profile({ ReturnURL: 'http://portal.example.com/sso' }));
    expect(items[0]).toMatchObject({
      check: 'HTTPS',
      status: 'fail',
      detail: expect.stringContaining('ReturnURL') as unknown,
    });
    const local = profile(
      { ReturnURL: 'http://localhost:3001/sso' },
      {
        CallbackBaseURL: 'http://127.0.0.1:3010',
        UseProviders: [
          { Name: 'openid-connect', Key: 'k', DiscoverURL: 'http://localhost:3020/.well-known/openid-configuration' },
        ],
      },
    );
    expect(status(local).HTTPS).toBe('pass');
    const idp = profile(
      {},
      // Saving such a profile needs the explicit opt-in (issue 13); the doctor still flags it.
      {
        AllowInsecureHttp: true,
        UseProviders: [{ Name: 'openid-connect', Key: 'k', DiscoverURL: 'http://idp.example.com/x' }],
      },
    );
    expect(riskySettings(idp)[0].detail).toContain('UseProviders[0].DiscoverURL');
  });

  it('should fail CustomEmailField (every login fails) unless AllowUnverifiedEmail, which is a warning', () => {
    expect(status(profile({ CustomEmailField: 'mail' })).CustomEmailField).toBe('fail');
    const allowed = status(profile({ CustomEmailField: 'mail' }, { AllowUnverifiedEmail: true }));
    expect(allowed).toMatchObject({ CustomEmailField: 'pass', AllowUnverifiedEmail: 'warn' });
  });

  it('should warn when FailureRedirect is missing', () => {
    expect(status(profile({}, { FailureRedirect: '' })).FailureRedirect).toBe('warn');
  });
});
