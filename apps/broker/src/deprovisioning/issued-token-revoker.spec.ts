import { jest } from '@jest/globals';
import { IssuedTokensStore, type SealedToken } from '@app/developers';
import { ProfilesService } from '@app/profiles';
import { TykPortalClient, ssoKey, tokenCacheKey } from '@app/tyk-portal';
import { Test } from '@nestjs/testing';
import type { RevocationReport } from '@app/provisioning';
import { IssuedTokenRevoker } from './issued-token-revoker.js';

/** What deprovisioning revokes: the token each token-issuing profile keeps for the subject. */
describe('IssuedTokenRevoker', () => {
  const stored = (ID: string, ActionType: string, IdentityHandlerConfig: Record<string, unknown>) => ({
    profile: { ID, ActionType, IdentityHandlerConfig },
    version: 1,
    updatedAt: new Date(),
  });
  const profiles = [
    stored('keys', 'GenerateTemporaryAuthToken', { DashboardCredential: 'cred', TokenAuth: { BaseAPIID: 'api-1' } }),
    stored('oauth', 'GenerateOAuthTokenForClient', {
      DashboardCredential: 'cred',
      OAuth: {
        BaseAPIID: 'api-2',
        ClientId: 'c',
        APIListenPath: '/x',
        RedirectURI: 'http://a.example/cb',
        ResponseType: 'token',
      },
    }),
    stored('portal', 'GenerateOrLoginDeveloperProfile', { DashboardCredential: 'cred' }),
  ];

  type Revoke = (apiId: string, key: string, credential: string) => Promise<'revoked'>;
  async function setup(
    tokens: Record<string, string>,
    revoke = jest.fn<Revoke>(() => Promise.resolve<'revoked'>('revoked')),
    liveProfiles: string[] = [],
  ) {
    const store = {
      get: jest.fn((key: string) => Promise.resolve(tokens[key] ?? null)),
      delete: jest.fn((key: string) => Promise.resolve(void delete tokens[key])),
      // The test's "sealing": the token itself, or null when sealed under another secret.
      unseal: jest.fn((t: SealedToken) => (t.sealed === 'unreadable' ? null : t.sealed)),
      profilesOf: jest.fn(() => Promise.resolve(liveProfiles)),
    };
    const moduleRef = await Test.createTestingModule({
      providers: [
        IssuedTokenRevoker,
        { provide: ProfilesService, useValue: { list: () => Promise.resolve(profiles) } },
        { provide: IssuedTokensStore, useValue: store },
        { provide: TykPortalClient, useValue: { revokeApiKey: revoke } },
      ],
    }).compile();
    return { revoker: moduleRef.get(IssuedTokenRevoker), store, revoke };
  }

  const DEVELOPER = '8c1e0c1e-0000-4000-8000-000000000001';
  const key = (profile: string) => tokenCacheKey(profile, ssoKey('alice', 'openid-connect'));

  /** The audit callback: the profiles whose token it was told was revoked, and the failures, in order. */
  function audited(fail: (profileId: string) => boolean = () => false) {
    const seen: string[] = [];
    const failures: string[] = [];
    const record = jest.fn((r: RevocationReport) => {
      if (fail(r.profileId)) return Promise.reject(new Error('audit down'));
      if (r.outcome === 'success') seen.push(r.profileId);
      else failures.push(`${r.profileId}: ${r.reason}`);
      return Promise.resolve();
    });
    return { seen, failures, record };
  }

  it('should revoke and forget the key and the OAuth token issued to the subject, and nothing else', async () => {
    const tokens = {
      [key('keys')]: 'key-1',
      [key('oauth')]: 'tok-2',
      [tokenCacheKey('keys', ssoKey('bob', 'openid-connect'))]: 'bobs',
    };
    const { revoker, revoke } = await setup(tokens);
    const audit = audited();
    await revoker.revokeFor('alice', DEVELOPER, audit.record);
    expect(audit.seen).toEqual(['keys', 'oauth']);
    expect(revoke.mock.calls).toEqual([
      ['api-1', 'key-1', 'cred'],
      ['api-2', 'tok-2', 'cred'],
    ]);
    expect(Object.values(tokens)).toEqual(['bobs']);
    // Idempotent: a second run finds nothing left to revoke.
    await revoker.revokeFor('alice', DEVELOPER, audit.record);
    expect(audit.seen).toEqual(['keys', 'oauth']);
    expect(revoke).toHaveBeenCalledTimes(2);
  });

  it("should audit the first profile's revocation when the second one fails, and retry only the second", async () => {
    const tokens = { [key('keys')]: 'key-1', [key('oauth')]: 'tok-2' };
    let dashboardDown = true;
    const { revoker, revoke } = await setup(
      tokens,
      jest.fn<Revoke>((apiId) =>
        apiId === 'api-2' && dashboardDown ? Promise.reject(new Error('dashboard down')) : Promise.resolve('revoked'),
      ),
    );
    const audit = audited();
    await expect(revoker.revokeFor('alice', DEVELOPER, audit.record)).rejects.toThrow('dashboard down');
    // Profile 1's token is revoked and forgotten: it was audited first, so the failure loses nothing.
    expect(audit.seen).toEqual(['keys']);
    expect(Object.keys(tokens)).toEqual([key('oauth')]);
    // The retry revokes what is left, once, and audits it.
    dashboardDown = false;
    await revoker.revokeFor('alice', DEVELOPER, audit.record);
    expect(audit.seen).toEqual(['keys', 'oauth']);
    expect(revoke.mock.calls.map(([apiId]) => apiId)).toEqual(['api-1', 'api-2', 'api-2']);
    expect(tokens).toEqual({});
  });

  it('should keep a revoked token on record when its audit fails, so the retry revokes and audits it', async () => {
    const tokens = { [key('keys')]: 'key-1' };
    const { revoker, store } = await setup(tokens);
    let auditDown = true;
    const audit = audited(() => auditDown);
    await expect(revoker.revokeFor('alice', DEVELOPER, audit.record)).rejects.toThrow('audit down');
    expect(store.delete).not.toHaveBeenCalled();
    auditDown = false;
    await revoker.revokeFor('alice', DEVELOPER, audit.record);
    expect(audit.seen).toEqual(['keys']);
    expect(tokens).toEqual({});
  });

  it('should keep the token when the Dashboard refuses, so the outbox retries it', async () => {
    const tokens = { [key('keys')]: 'key-1' };
    const { revoker, store } = await setup(
      tokens,
      jest.fn<Revoke>(() => Promise.reject(new Error('dashboard down'))),
    );
    const audit = audited();
    await expect(revoker.revokeFor('alice', DEVELOPER, audit.record)).rejects.toThrow('dashboard down');
    expect(audit.seen).toEqual([]);
    expect(store.delete).not.toHaveBeenCalled();
    expect(tokens[key('keys')]).toBe('key-1');
  });

  it('should revoke the tokens an erasure handed over, and report those of a gone profile or another secret as failures', async () => {
    const { revoker, revoke, store } = await setup({});
    const sealed = (profile_id: string, token: string): SealedToken => ({
      profile_id,
      lookup: 'bG9va3Vw',
      sealed: token,
    });
    const audit = audited();
    await revoker.revokeSealed(
      [
        sealed('keys', 'key-9'),
        sealed('oauth', 'tok-9'),
        sealed('deleted-profile', 'key-x'),
        sealed('portal', 'key-y'),
        sealed('keys', 'unreadable'),
      ],
      audit.record,
    );
    expect(audit.seen).toEqual(['keys', 'oauth']);
    expect(audit.failures).toEqual(['deleted-profile: profile_gone', 'portal: profile_gone', 'keys: token_unreadable']);
    expect(revoke.mock.calls).toEqual([
      ['api-1', 'key-9', 'cred'],
      ['api-2', 'tok-9', 'cred'],
    ]);
    // Nothing to forget: the erasure already took them out of the store.
    expect(store.delete).not.toHaveBeenCalled();
  });

  it('should report a token of a profile without DashboardCredential, or of a deleted profile, as not revoked, and keep it', async () => {
    const tokens = { [key('nocred')]: 'key-3', [key('keys')]: 'key-1' };
    profiles.push(stored('nocred', 'GenerateTemporaryAuthToken', { TokenAuth: { BaseAPIID: 'api-3' } }));
    try {
      const { revoker, revoke, store } = await setup(tokens, undefined, ['keys', 'nocred', 'deleted-profile']);
      const audit = audited();
      await revoker.revokeFor('alice', DEVELOPER, audit.record);
      expect(store.profilesOf).toHaveBeenCalledWith(DEVELOPER);
      expect(audit.seen).toEqual(['keys']);
      expect(audit.failures).toEqual(['nocred: no_dashboard_credential', 'deleted-profile: profile_gone']);
      expect(revoke.mock.calls).toEqual([['api-1', 'key-1', 'cred']]);
      // Kept on record: a later deprovisioning (an erasure takes it) tries again.
      expect(tokens).toEqual({ [key('nocred')]: 'key-3' });
    } finally {
      profiles.pop();
    }
  });
});
