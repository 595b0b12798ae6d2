import { decodeProfileOrThrow } from '@app/profiles';
import { profileIssuers, scimScope } from './scim-scope.js';

const A = 'https://login.microsoftonline.com/tenant-a/v2.0';
const B = 'https://acme.okta.com';

const profile = (id: string, issuer: string) =>
  decodeProfileOrThrow({
    ID: id,
    ActionType: 'GenerateOrLoginDeveloperProfile',
    ProviderName: 'SocialProvider',
    ProviderConfig: {
      CallbackBaseURL: 'https://sso.example.com',
      UseProviders: [
        { Name: 'openid-connect', Key: 'k', Secret: 's', DiscoverURL: `${issuer}/.well-known/openid-configuration` },
      ],
    },
    ReturnURL: 'https://portal.example.com/sso',
  });

const token = (label: string) => ({ label, token: 'x'.repeat(32) });
const statuses = (items: ReturnType<typeof scimScope>) => items.map((i) => i.status);

describe("the doctor's SCIM scope check", () => {
  it('should read the issuers from the profiles, once each', async () => {
    const fromUrl = (url: string) => Promise.resolve(url.replace('/.well-known/openid-configuration', ''));
    await expect(profileIssuers([profile('1', B), profile('2', A), profile('3', B)], fromUrl)).resolves.toEqual([B, A]);
  });

  it('should warn when profiles use two issuers and a SCIM client has none', () => {
    const items = scimScope({ scimTokens: [token('entra'), token('okta')], scimIssuers: { entra: A } }, [A, B]);
    expect(statuses(items)).toEqual(['warn']);
    expect(items[0].detail).toContain('SCIM client(s) okta have none');
    expect(items[0].fix).toContain('BROKER_SCIM_ISSUERS');
  });

  it('should warn about one unscoped client as well: its users can link to either IdP', () => {
    expect(statuses(scimScope({ scimTokens: [token('entra')], scimIssuers: {} }, [A, B]))).toEqual(['warn']);
  });

  it('should pass with one issuer, or with every client scoped to an issuer a profile uses', () => {
    expect(statuses(scimScope({ scimTokens: [token('entra'), token('okta')], scimIssuers: {} }, [A]))).toEqual([
      'pass',
    ]);
    expect(
      statuses(scimScope({ scimTokens: [token('entra'), token('okta')], scimIssuers: { entra: A, okta: B } }, [A, B])),
    ).toEqual(['pass']);
  });

  it('should warn about a scoped client whose issuer no profile uses (it never links anyone)', () => {
    const items = scimScope({ scimTokens: [token('okta')], scimIssuers: { okta: 'https://other.okta.com' } }, [A, B]);
    expect(statuses(items)).toEqual(['warn']);
    expect(items[0].detail).toContain('scoped to https://other.okta.com, which no profile');
  });

  it("should compare a client's issuer exactly with the discovery document's (Auth0's ends in a slash)", async () => {
    const auth0 = 'https://tenant.auth0.com';
    // The DiscoverURL shows no slash; the discovery document (what logins record) has one.
    const issuers = await profileIssuers([profile('1', auth0)], () => Promise.resolve(`${auth0}/`));
    expect(statuses(scimScope({ scimTokens: [token('auth0')], scimIssuers: { auth0: `${auth0}/` } }, issuers))).toEqual(
      ['pass'],
    );
    expect(statuses(scimScope({ scimTokens: [token('auth0')], scimIssuers: { auth0 } }, issuers))).toEqual(['warn']);
  });

  it('should say nothing when SCIM is off', () => {
    expect(scimScope({ scimTokens: [], scimIssuers: {} }, [A, B])).toEqual([]);
  });
});
