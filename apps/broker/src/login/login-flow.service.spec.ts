import { jest } from '@jest/globals';
import { AuditService } from '@app/audit';
import type { IdentityMappingSettings, VerifiedLogin } from '@app/cloudentity';
import { DomainError, parseOrganisationSyncSettings, type RequestContextData } from '@app/common';
import { DevelopersService } from '@app/developers';
import type { StoredProfile } from '@app/profiles';
import { IdentityActionsService, OrganisationSyncService } from '@app/tyk-portal';
import { Test } from '@nestjs/testing';
import { BrokerMetrics } from '../metrics/broker-metrics.service.js';
import type { LoginAttempt } from './login-attempt.js';
import { LoginFailedException } from './login-failures.service.js';
import { LoginFlowService } from './login-flow.service.js';
import { LoginSettings } from './login-settings.service.js';
import { ScimUsersService } from '@app/provisioning';

const stored = {
  version: 3,
  profile: {
    ID: 'p1',
    ActionType: 'GenerateOrLoginDeveloperProfile',
    OrgID: 'org-1',
    ReturnURL: 'https://portal.example/sso',
    IdentityHandlerConfig: {},
    SSOOnlyForRegisteredUsers: false,
    MatchedPolicyID: '',
  },
} as unknown as StoredProfile;

const mapping: IdentityMappingSettings = {
  customEmailField: '',
  customUserIdField: '',
  customUserGroupField: '',
  userGroupSeparator: '',
  userGroupMapping: {},
  defaultUserGroupId: '',
  domain: '',
  organisationClaim: 'org_id',
  organisationNameClaim: 'org_name',
  allowUnverifiedEmail: false,
  provider: 'openid-connect',
};

const verified: VerifiedLogin = {
  issuer: 'https://idp.example',
  subject: 'sub-1',
  claims: { sub: 'sub-1', email: 'dev@example.com', email_verified: true, org_id: 'acme', org_name: 'Acme' },
  idTokenClaims: { sub: 'sub-1' },
};

const ctx: RequestContextData = { ip: '127.0.0.1', userAgent: 'jest', requestId: 'req-1' };

function attempt(): LoginAttempt {
  return { step: 'callback', stored, provider: 'openid-connect', started: process.hrtime.bigint() };
}

/** The orchestration with every port mocked: what it calls, in which order, and what it answers. */
async function setUp() {
  const ports = {
    settings: {
      provider: jest.fn(() => ({ settings: { providerName: 'openid-connect' } })),
      mapping: jest.fn(() => mapping),
      sync: jest.fn(() => parseOrganisationSyncSettings({})),
    },
    developers: {
      recordLogin: jest.fn((_login: unknown) => Promise.resolve({ developer: { id: 'dev-1', portalUserId: 'pu-1' } })),
      setPortalLink: jest.fn((_id: string, _link: unknown) => Promise.resolve()),
    },
    actions: {
      run: jest.fn((_action: string, _input: unknown) =>
        Promise.resolve({
          kind: 'redirect' as const,
          status: 302,
          location: 'https://portal.example/sso?nonce=n1',
          portal: { ssoKey: 'k', developerId: null, developerCreated: true, portalEmail: 'dev@example.com' },
        }),
      ),
    },
    organisations: {
      resolve: jest.fn((_input: unknown): Promise<unknown> => Promise.resolve(null)),
      reconcileUser: jest.fn((_id: string, _change: unknown): Promise<unknown> =>
        Promise.resolve({ moved: false, roleChanged: false }),
      ),
      findPortalUserIdByEmail: jest.fn((_email: string): Promise<string | null> => Promise.resolve('pu-2')),
      forgetPortalUser: jest.fn((_email: string) => undefined),
    },
    audit: { record: jest.fn((_event: unknown) => Promise.resolve()) },
    metrics: { loginStep: jest.fn((..._args: unknown[]) => undefined) },
    scimUsers: { atLogin: jest.fn((_developer: unknown) => Promise.resolve()) },
  };
  const moduleRef = await Test.createTestingModule({
    providers: [
      LoginFlowService,
      { provide: LoginSettings, useValue: ports.settings },
      { provide: DevelopersService, useValue: ports.developers },
      { provide: IdentityActionsService, useValue: ports.actions },
      { provide: OrganisationSyncService, useValue: ports.organisations },
      { provide: AuditService, useValue: ports.audit },
      { provide: BrokerMetrics, useValue: ports.metrics },
      { provide: ScimUsersService, useValue: ports.scimUsers },
    ],
  }).compile();
  return { flow: moduleRef.get(LoginFlowService), ...ports };
}

const auditTypes = (audit: { record: jest.Mock<(event: unknown) => Promise<void>> }) =>
  audit.record.mock.calls.map((call) => (call[0] as { type: string }).type);

describe('LoginFlowService (mocked ports)', () => {
  it('should record the developer, run the profile action, audit login.succeeded and answer its redirect', async () => {
    const { flow, developers, actions, audit, metrics, scimUsers } = await setUp();
    const outcome = await flow.complete(attempt(), verified, ctx);
    expect(outcome).toEqual({ kind: 'redirect', status: 302, location: 'https://portal.example/sso?nonce=n1' });
    expect(developers.recordLogin).toHaveBeenCalledWith(
      expect.objectContaining({ issuer: 'https://idp.example', subject: 'sub-1', email: 'dev@example.com' }),
    );
    // A user pre-provisioned over SCIM is matched to the recorded developer.
    expect(scimUsers.atLogin).toHaveBeenCalledWith(expect.objectContaining({ id: 'dev-1' }));
    expect(actions.run).toHaveBeenCalledWith(
      'GenerateOrLoginDeveloperProfile',
      expect.objectContaining({
        identity: expect.objectContaining({ email: 'dev@example.com', organisation: { id: 'acme', name: 'Acme' } }),
        portalTeamId: null,
      }),
    );
    expect(auditTypes(audit)).toEqual(['login.succeeded']);
    expect(audit.record).toHaveBeenCalledWith(
      expect.objectContaining({ developerId: 'dev-1', organisationId: 'acme', ip: '127.0.0.1', requestId: 'req-1' }),
    );
    expect(metrics.loginStep).toHaveBeenCalledWith('callback', 'success', 'ok', expect.any(BigInt));
  });

  it("should claim the portal SSO key for the developer-profile action only, not a token profile's login", async () => {
    const { flow, developers } = await setUp();
    await flow.complete(attempt(), verified, ctx);
    expect(developers.recordLogin).toHaveBeenLastCalledWith(
      expect.objectContaining({ ssoKey: 'sub-1@openid-connect.com' }),
    );
    const token = { ...stored, profile: { ...stored.profile, ActionType: 'GenerateTemporaryAuthToken' } };
    await flow.complete({ ...attempt(), stored: token as StoredProfile }, verified, ctx);
    expect(developers.recordLogin).toHaveBeenLastCalledWith(expect.objectContaining({ ssoKey: null }));
  });

  it('should throw LoginFailedException with the developer and organisation when the portal action fails', async () => {
    const { flow, actions, audit } = await setUp();
    const cause = new DomainError('portal_unreachable', 'down');
    actions.run.mockRejectedValueOnce(cause);
    const failure = await flow.complete(attempt(), verified, ctx).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(LoginFailedException);
    expect((failure as LoginFailedException).error).toBe(cause);
    expect((failure as LoginFailedException).known).toEqual({ developerId: 'dev-1', organisationId: 'acme' });
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('should keep the organisation claim on a failure before the developer is recorded', async () => {
    const { flow, developers } = await setUp();
    developers.recordLogin.mockRejectedValueOnce(new DomainError('developer_blocked', 'blocked'));
    const failure = (await flow.complete(attempt(), verified, ctx).catch((e: unknown) => e)) as LoginFailedException;
    expect(failure.known).toEqual({ developerId: null, organisationId: 'acme' });
  });

  it('should move the portal user into the resolved team and audit portal.developer_moved', async () => {
    const { flow, organisations, audit, actions } = await setUp();
    organisations.resolve.mockResolvedValueOnce({ portalOrgId: 'po-1', portalTeamId: 'pt-1' });
    organisations.reconcileUser.mockResolvedValueOnce({
      moved: true,
      before: { team: 'a' },
      after: { team: 'b' },
      roleChanged: false,
    });
    await flow.complete(attempt(), verified, ctx);
    expect(actions.run).toHaveBeenCalledWith(expect.any(String), expect.objectContaining({ portalTeamId: 'pt-1' }));
    expect(organisations.reconcileUser).toHaveBeenCalledWith('pu-1', {
      placement: { portalOrgId: 'po-1', portalTeamId: 'pt-1' },
      role: null,
    });
    expect(auditTypes(audit)).toEqual(['portal.developer_moved', 'login.succeeded']);
  });

  it('should look the portal user up again once when the portal no longer has the remembered one', async () => {
    const { flow, organisations, developers } = await setUp();
    organisations.resolve.mockResolvedValueOnce({ portalOrgId: 'po-1', portalTeamId: 'pt-1' });
    organisations.reconcileUser.mockRejectedValueOnce(new DomainError('not_found', 'gone'));
    await flow.complete(attempt(), verified, ctx);
    expect(organisations.forgetPortalUser).toHaveBeenCalledWith('dev@example.com');
    expect(developers.setPortalLink).toHaveBeenCalledWith('dev-1', { portalUserId: 'pu-2' });
    expect(organisations.reconcileUser).toHaveBeenLastCalledWith('pu-2', expect.anything());
  });

  it('should walk the whole user list for a new developer with a managed role when the bounded lookup misses', async () => {
    const { flow, organisations, developers, settings, audit } = await setUp();
    settings.sync.mockReturnValue(
      parseOrganisationSyncSettings({ OrganisationSync: { DefaultRole: 'consumer-team-member' } }),
    );
    developers.recordLogin.mockResolvedValueOnce({ developer: { id: 'dev-1', portalUserId: null } } as never);
    organisations.findPortalUserIdByEmail.mockResolvedValueOnce(null).mockResolvedValueOnce('pu-9');
    await flow.complete(attempt(), verified, ctx);
    // The portal created the account just now: a miss remembered from before is not believed.
    expect(organisations.findPortalUserIdByEmail.mock.calls).toEqual([
      ['dev@example.com', { fresh: true }],
      ['dev@example.com', { exhaustive: true, fresh: true }],
    ]);
    expect(developers.setPortalLink).toHaveBeenCalledWith('dev-1', { portalUserId: 'pu-9' });
    expect(organisations.reconcileUser).toHaveBeenCalledWith('pu-9', { placement: null, role: 'consumer-team-member' });
    expect(auditTypes(audit)).toEqual(['login.succeeded']);
  });

  it('should fail the login (portal_rejected) when a managed role cannot be applied because the portal user is not found', async () => {
    const { flow, organisations, developers, settings, audit } = await setUp();
    settings.sync.mockReturnValue(
      parseOrganisationSyncSettings({ OrganisationSync: { DefaultRole: 'consumer-team-member' } }),
    );
    developers.recordLogin.mockResolvedValueOnce({ developer: { id: 'dev-1', portalUserId: null } } as never);
    organisations.findPortalUserIdByEmail.mockResolvedValue(null);
    const failure = (await flow.complete(attempt(), verified, ctx).catch((e: unknown) => e)) as LoginFailedException;
    expect(failure).toBeInstanceOf(LoginFailedException);
    expect(failure.error).toMatchObject({ code: 'portal_rejected' });
    expect(organisations.findPortalUserIdByEmail).toHaveBeenLastCalledWith('dev@example.com', {
      exhaustive: true,
      fresh: true,
    });
    expect(organisations.reconcileUser).not.toHaveBeenCalled();
    expect(audit.record).not.toHaveBeenCalled();
  });

  it('should leave placement alone for a later login when a returning developer is not found by the bounded lookup', async () => {
    const { flow, organisations, developers, actions, audit } = await setUp();
    organisations.resolve.mockResolvedValueOnce({ portalOrgId: 'po-1', portalTeamId: 'pt-1' });
    developers.recordLogin.mockResolvedValueOnce({ developer: { id: 'dev-1', portalUserId: null } } as never);
    actions.run.mockResolvedValueOnce({
      kind: 'redirect',
      status: 302,
      location: 'https://portal.example/sso?nonce=n1',
      portal: { ssoKey: 'k', developerId: 'd1', developerCreated: false, portalEmail: 'dev@example.com' },
    } as never);
    organisations.findPortalUserIdByEmail.mockResolvedValue(null);
    await flow.complete(attempt(), verified, ctx);
    expect(organisations.findPortalUserIdByEmail.mock.calls).toEqual([['dev@example.com', { fresh: false }]]);
    expect(auditTypes(audit)).toEqual(['login.succeeded']);
  });

  it('should skip the portal check on a repeat login whose placement is remembered', async () => {
    const { flow, organisations } = await setUp();
    organisations.resolve.mockResolvedValue({ portalOrgId: 'po-1', portalTeamId: 'pt-1' });
    await flow.complete(attempt(), verified, ctx);
    await flow.complete(attempt(), verified, ctx);
    expect(organisations.reconcileUser).toHaveBeenCalledTimes(1);
  });
});
