import { jest } from '@jest/globals';
import { DomainError } from '@app/common';
import { portalConfig } from '@app/config';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { IdentityActionsService } from './identity-actions.service.js';
import type { IdentityActionInput, IdentityActionType } from './identity-actions.types.js';
import { PortalUserDirectory } from './portal-user-directory.js';
import { TOKEN_CACHE } from './tyk-portal.constants.js';
import { TykPortalClient } from './tyk-portal.client.js';

const CREDENTIAL = 'portal-api-secret';

function input(profile: Partial<IdentityActionInput['profile']> = {}): IdentityActionInput {
  return {
    identity: {
      email: 'dev@example.com',
      userId: 'user-1',
      subject: 'sub-1',
      displayName: 'Dev One',
      groupIds: ['g1'],
      provider: 'openid-connect',
    },
    profile: {
      ID: 'p1',
      ActionType: 'GenerateOrLoginDeveloperProfile',
      OrgID: 'org-1',
      ReturnURL: 'https://portal.example/sso',
      IdentityHandlerConfig: { DashboardCredential: CREDENTIAL },
      SSOOnlyForRegisteredUsers: false,
      MatchedPolicyID: 'policy-1',
      ...profile,
    },
    portalTeamId: null,
  };
}

/** The four TIB actions with the portal client, token cache and user directory mocked. */
async function setUp() {
  const client = {
    createNonce: jest.fn((_body: unknown, _credential: string) => Promise.resolve('nonce-1')),
    findDeveloperBySsoKey: jest.fn((_key: string, _credential: string): Promise<unknown> => Promise.resolve(null)),
    createDeveloper: jest.fn((_developer: unknown, _credential: string) => Promise.resolve()),
    updateDeveloper: jest.fn((_developer: unknown, _credential: string) => Promise.resolve()),
    revokeApiKey: jest.fn((_api: string, _key: string, _credential: string) => Promise.resolve()),
    createStandardKey: jest.fn((_session: unknown, _credential: string) => Promise.resolve('key-2')),
  };
  const tokenCache = {
    get: jest.fn((_key: string): Promise<string | null> => Promise.resolve(null)),
    set: jest.fn((_key: string, _token: string, _ttl: number | undefined, _owner: unknown) => Promise.resolve()),
  };
  const directory = {
    findUserId: jest.fn((_email: string, _opts: unknown): Promise<string | null> => Promise.resolve(null)),
  };
  const moduleRef = await Test.createTestingModule({
    providers: [
      IdentityActionsService,
      { provide: TykPortalClient, useValue: client },
      { provide: TOKEN_CACHE, useValue: tokenCache },
      { provide: PortalUserDirectory, useValue: directory },
      { provide: portalConfig.KEY, useValue: { tykApi: { dashboard: { adminSecret: '' } } } },
    ],
  }).compile();
  return { actions: moduleRef.get(IdentityActionsService), client, tokenCache, directory };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return (error as DomainError).code;
}

describe('IdentityActionsService (mocked ports)', () => {
  beforeEach(() => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('should get a portal nonce, create a new developer by SSO key and redirect to ReturnURL?nonce=', async () => {
    const { actions, client } = await setUp();
    const result = await actions.run('GenerateOrLoginDeveloperProfile', input());
    expect(client.createNonce).toHaveBeenCalledWith(
      expect.objectContaining({ ForSection: 'portal', OrgID: 'org-1', EmailAddress: 'dev@example.com', GroupID: 'g1' }),
      CREDENTIAL,
    );
    expect(client.createDeveloper).toHaveBeenCalledWith(
      { email: 'dev@example.com', orgId: 'org-1', nonce: 'nonce-1', ssoKey: 'user-1@openid-connect.com' },
      CREDENTIAL,
    );
    expect(result).toEqual({
      kind: 'redirect',
      status: 302,
      location: 'https://portal.example/sso?nonce=nonce-1',
      portal: {
        ssoKey: 'user-1@openid-connect.com',
        developerId: null,
        developerCreated: true,
        portalEmail: 'dev@example.com',
      },
    });
  });

  it('should update an existing developer with the new nonce and keep its portal email', async () => {
    const { actions, client } = await setUp();
    client.findDeveloperBySsoKey.mockResolvedValueOnce({ id: 'd9', email: 'old@example.com' });
    const result = await actions.run('GenerateOrLoginDeveloperProfile', input());
    expect(client.updateDeveloper).toHaveBeenCalledWith(
      { id: 'd9', email: 'old@example.com', nonce: 'nonce-1' },
      CREDENTIAL,
    );
    expect(client.createDeveloper).not.toHaveBeenCalled();
    expect(result).toMatchObject({
      portal: { developerId: 'd9', developerCreated: false, portalEmail: 'old@example.com' },
    });
  });

  it('should put the developer in the resolved portal team instead of the mapped groups', async () => {
    const { actions, client } = await setUp();
    await actions.run('GenerateOrLoginDeveloperProfile', { ...input(), portalTeamId: 'team-7' });
    expect(client.createNonce).toHaveBeenCalledWith(
      expect.objectContaining({ GroupID: 'team-7', GroupsIDs: ['team-7'] }),
      CREDENTIAL,
    );
  });

  it('should refuse an unregistered developer before any nonce exists when SSOOnlyForRegisteredUsers is set', async () => {
    const { actions, client, directory } = await setUp();
    expect(
      await codeOf(actions.run('GenerateOrLoginDeveloperProfile', input({ SSOOnlyForRegisteredUsers: true }))),
    ).toBe('developer_not_registered');
    expect(directory.findUserId).toHaveBeenCalledWith('dev@example.com', { exhaustive: true });
    expect(client.createNonce).not.toHaveBeenCalled();
  });

  // Review finding 1: CustomEmailField "upn" + AllowUnverifiedEmail. Mapping checked only the upn
  // (mallory@corp.com); the standard `email` claim (victim@partner.com) is unchecked and self-asserted.
  const twoClaims = (profile: Partial<IdentityActionInput['profile']> = {}): IdentityActionInput => {
    const base = input(profile);
    return { ...base, identity: { ...base.identity, email: 'mallory@corp.com', rawEmail: 'victim@partner.com' } };
  };

  it('should check registration by the checked email, never by an unchecked standard email claim', async () => {
    const { actions, client, directory } = await setUp();
    // The portal knows the victim only.
    directory.findUserId.mockImplementation((email) => Promise.resolve(email === 'victim@partner.com' ? 'u-9' : null));
    expect(
      await codeOf(actions.run('GenerateOrLoginDeveloperProfile', twoClaims({ SSOOnlyForRegisteredUsers: true }))),
    ).toBe('developer_not_registered');
    expect(directory.findUserId.mock.calls.map((c) => c[0])).toEqual(['mallory@corp.com']);
    expect(client.createNonce).not.toHaveBeenCalled();
  });

  it('should create the developer with the checked email when the standard email claim is another address', async () => {
    const { actions, client } = await setUp();
    const result = await actions.run('GenerateOrLoginDeveloperProfile', twoClaims());
    expect(client.createDeveloper).toHaveBeenCalledWith(
      expect.objectContaining({ email: 'mallory@corp.com', ssoKey: 'user-1@openid-connect.com' }),
      CREDENTIAL,
    );
    // The account the login flow then finds, links and places (reconcile) is the checked one.
    expect(result).toMatchObject({ portal: { developerCreated: true, portalEmail: 'mallory@corp.com' } });
  });

  it("should keep TIB's spelling of the standard email claim when it is the checked address but for case", async () => {
    const { actions, client } = await setUp();
    const base = input();
    await actions.run('GenerateOrLoginDeveloperProfile', {
      ...base,
      identity: { ...base.identity, email: 'dev@example.com', rawEmail: 'Dev@Example.com' },
    });
    expect(client.createDeveloper).toHaveBeenCalledWith(
      expect.objectContaining({ email: 'Dev@Example.com' }),
      CREDENTIAL,
    );
  });

  it('should fall back to the checked email when a developer found by SSO key has no email', async () => {
    const { actions, client } = await setUp();
    client.findDeveloperBySsoKey.mockResolvedValueOnce({ id: 'd9', email: '' });
    const result = await actions.run('GenerateOrLoginDeveloperProfile', twoClaims());
    expect(client.updateDeveloper).toHaveBeenCalledWith(
      { id: 'd9', email: 'mallory@corp.com', nonce: 'nonce-1' },
      CREDENTIAL,
    );
    expect(result).toMatchObject({ portal: { portalEmail: 'mallory@corp.com' } });
  });

  it('should fail without touching the portal when ReturnURL or DashboardCredential is missing', async () => {
    const { actions, client } = await setUp();
    expect(await codeOf(actions.run('GenerateOrLoginDeveloperProfile', input({ ReturnURL: '' })))).toBe(
      'portal_not_configured',
    );
    expect(await codeOf(actions.run('GenerateOrLoginDeveloperProfile', input({ IdentityHandlerConfig: {} })))).toBe(
      'profile_invalid',
    );
    expect(client.createNonce).not.toHaveBeenCalled();
  });

  it('should revoke the previous key, issue a new one and remember it for GenerateTemporaryAuthToken', async () => {
    const { actions, client, tokenCache } = await setUp();
    tokenCache.get.mockResolvedValueOnce('key-1');
    const result = await actions.run('GenerateTemporaryAuthToken', {
      ...input({
        ActionType: 'GenerateTemporaryAuthToken',
        ReturnURL: '',
        IdentityHandlerConfig: { DashboardCredential: CREDENTIAL, TokenAuth: { BaseAPIID: 'api-1', Expires: 60 } },
      }),
      developerId: 'developer-1',
    });
    expect(client.revokeApiKey).toHaveBeenCalledWith('api-1', 'key-1', CREDENTIAL);
    expect(tokenCache.set).toHaveBeenCalledWith(expect.stringContaining('p1'), 'key-2', 60, {
      profileId: 'p1',
      developerId: 'developer-1',
    });
    expect(result).toEqual({ kind: 'json', status: 200, body: { key_id: 'key-2' } });
  });

  it('should refuse an action type that is not one of TIB’s as profile_invalid', async () => {
    const { actions } = await setUp();
    expect(await codeOf(actions.run('Nope' as IdentityActionType, input()))).toBe('profile_invalid');
  });
});
