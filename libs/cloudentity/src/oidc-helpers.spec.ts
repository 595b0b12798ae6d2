import { DomainError } from '@app/common';
import { rolesFromClaim } from './admin-token.verifier.js';
import { chooseClientAuth, mergeUserinfo } from './oidc-back-channel.js';
import { mapIdentity } from './identity-mapping.js';
import type { IdentityMappingSettings } from './oidc-settings.js';
import { basicClientCredentials, s256 } from './oidc-crypto.js';
import { authorizedPartyRejected } from './jwt-verification.js';
import {
  authorizationResponseIssuerRejected,
  issuerFromDiscoverUrl,
  type DiscoveryDocument,
} from './oidc-discovery.service.js';

const doc = (methods?: string[]): DiscoveryDocument => ({
  issuer: 'https://idp.example/t/w',
  authorization_endpoint: 'https://idp.example/t/w/oauth2/authorize',
  token_endpoint: 'https://idp.example/t/w/oauth2/token',
  jwks_uri: 'https://idp.example/t/w/.well-known/jwks.json',
  token_endpoint_auth_methods_supported: methods,
});

describe('issuerFromDiscoverUrl', () => {
  it('should cut the well-known suffix exactly as written', () => {
    expect(
      issuerFromDiscoverUrl('https://acme.us.authz.cloudentity.io/acme/dev/.well-known/openid-configuration'),
    ).toBe('https://acme.us.authz.cloudentity.io/acme/dev');
    expect(issuerFromDiscoverUrl('http://127.0.0.1:9/.well-known/openid-configuration/')).toBe('http://127.0.0.1:9');
  });

  it('should refuse URLs that are not well-known discovery URLs', () => {
    for (const url of [
      'https://idp.example/t/w',
      'ftp://idp.example/.well-known/openid-configuration',
      'https://idp.example/.well-known/openid-configuration?x=1',
      'not a url',
    ]) {
      expect(() => issuerFromDiscoverUrl(url)).toThrow(DomainError);
    }
  });
});

describe('authorizationResponseIssuerRejected (RFC 9207, both sign-ins)', () => {
  const issuer = 'https://idp.example/t/w';
  it('should accept the issuer itself, and no iss only from a provider that does not promise it', () => {
    expect(authorizationResponseIssuerRejected(issuer, { issuer })).toBeNull();
    expect(authorizationResponseIssuerRejected(undefined, { issuer })).toBeNull();
    expect(
      authorizationResponseIssuerRejected(issuer, { issuer, authorization_response_iss_parameter_supported: true }),
    ).toBeNull();
  });

  it('should refuse another issuer, a repeated parameter, and no iss from a provider that promises it', () => {
    for (const iss of [`${issuer}/`, 'https://evil.example/t/w', '', [issuer, issuer], { x: issuer }]) {
      expect(authorizationResponseIssuerRejected(iss, { issuer })).toMatch(/another issuer/);
    }
    expect(
      authorizationResponseIssuerRejected(undefined, { issuer, authorization_response_iss_parameter_supported: true }),
    ).toMatch(/no iss/);
  });
});

describe('authorizedPartyRejected (OIDC Core 3.1.3.7, both sign-ins)', () => {
  it('should accept one audience without azp, and azp = our client with one or several audiences', () => {
    expect(authorizedPartyRejected({ aud: 'us' }, 'us')).toBeNull();
    expect(authorizedPartyRejected({ aud: ['us'] }, 'us')).toBeNull();
    expect(authorizedPartyRejected({ aud: ['us', 'api'], azp: 'us' }, 'us')).toBeNull();
  });

  it('should refuse several audiences without azp, and an azp naming another client', () => {
    expect(authorizedPartyRejected({ aud: ['us', 'api'] }, 'us')).not.toBeNull();
    expect(authorizedPartyRejected({ aud: ['us', 'them'], azp: 'them' }, 'us')).not.toBeNull();
    expect(authorizedPartyRejected({ aud: 'us', azp: 'them' }, 'us')).not.toBeNull();
  });
});

describe('chooseClientAuth', () => {
  it('should default to client_secret_basic', () => {
    expect(chooseClientAuth(doc())).toBe('client_secret_basic');
    expect(chooseClientAuth(doc(['client_secret_post', 'client_secret_basic']))).toBe('client_secret_basic');
  });

  it('should use client_secret_post only when the IdP supports only that', () => {
    expect(chooseClientAuth(doc(['client_secret_post', 'private_key_jwt']))).toBe('client_secret_post');
  });

  it('should follow the settings when they force a method', () => {
    expect(chooseClientAuth(doc(['client_secret_basic']), 'client_secret_post')).toBe('client_secret_post');
  });
});

describe('oidc crypto helpers', () => {
  it('should compute the RFC 7636 appendix B S256 challenge', () => {
    expect(s256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('should form-urlencode client credentials before Basic encoding (RFC 6749 §2.3.1)', () => {
    const header = basicClientCredentials('my client', 'p@ss:w+rd');
    const decoded = Buffer.from(header.replace(/^Basic /, ''), 'base64').toString('utf8');
    expect(decoded).toBe('my+client:p%40ss%3Aw%2Brd');
  });
});

describe('rolesFromClaim', () => {
  it('should map broker roles from an array or a space-separated string and ignore the rest', () => {
    expect(rolesFromClaim(['broker:admin', 'other', 'broker:admin'])).toEqual(['admin']);
    expect(rolesFromClaim('broker:auditor broker:admin')).toEqual(['auditor', 'admin']);
    expect(rolesFromClaim(undefined)).toEqual([]);
    expect(rolesFromClaim({ 'broker:admin': true })).toEqual([]);
  });
});

describe('mergeUserinfo', () => {
  const id = { sub: 's1', email: 'ada@example.com', email_verified: true, name: 'Ada' };
  const mapping: IdentityMappingSettings = {
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

  it("should not let the ID token's email_verified vouch for another email from userinfo", () => {
    const claims = mergeUserinfo(id, { sub: 's1', email: 'victim@example.com' });
    expect(claims.email).toBe('victim@example.com');
    expect(claims.email_verified).toBeUndefined();
    expect(() => mapIdentity(claims, mapping)).toThrow(expect.objectContaining({ code: 'email_unverified' }));
  });

  it("should keep the ID token's email_verified when userinfo repeats the same email or sends none", () => {
    expect(mergeUserinfo(id, { sub: 's1', email: 'ada@example.com', name: 'A' })).toMatchObject({
      email: 'ada@example.com',
      email_verified: true,
      name: 'A',
    });
    expect(mergeUserinfo(id, { sub: 's1', groups: ['g'] })).toMatchObject({ email_verified: true, groups: ['g'] });
    // Userinfo's verdict without its own email is about an address it did not send.
    expect(mergeUserinfo(id, { sub: 's1', email_verified: false }).email_verified).toBe(true);
  });

  it("should take userinfo's email_verified with userinfo's email", () => {
    expect(mergeUserinfo(id, { sub: 's1', email: 'new@example.com', email_verified: true }).email_verified).toBe(true);
    expect(mergeUserinfo(id, { sub: 's1', email: 'ada@example.com', email_verified: false }).email_verified).toBe(
      false,
    );
    expect(
      mergeUserinfo(
        { sub: 's1', email: 'ada@example.com' },
        { sub: 's1', email: 'ada@example.com', email_verified: true },
      ).email_verified,
    ).toBe(true);
  });
});
