import { jest } from '@jest/globals';
import { DevelopersService, IssuedTokensStore } from '@app/developers';
import { ProfilesModule, ProfilesService } from '@app/profiles';
import { DeprovisioningWorker, ProvisioningModule } from '@app/provisioning';
import { TykPortalClient, ssoKey, tokenCacheKey } from '@app/tyk-portal';
import { Module, type INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { IssuedTokenRevoker } from './issued-token-revoker.js';

/**
 * Deprovisioning's token revocation as the broker wires it (real Postgres, the real revoker,
 * store and profiles; a Dashboard stand-in): a token that cannot be revoked, because its profile
 * has no DashboardCredential or is gone, is audited `token.revoked` with outcome failure and the
 * reason, never as revoked. A block keeps such a token on record; an erasure still completes.
 */
const ISSUER = 'https://idp.example/tenant';
const revokeApiKey = jest.fn((_apiId: string, _key: string, _credential: string) =>
  Promise.resolve<'revoked'>('revoked'),
);

/** The Dashboard revokes; no portal user is ever found, so the portal step is a no-op. */
@Module({
  providers: [
    {
      provide: TykPortalClient,
      useValue: { revokeApiKey, findUserIdByEmail: () => Promise.resolve(null), getUser: () => Promise.resolve(null) },
    },
  ],
  exports: [TykPortalClient],
})
class DashboardOnlyModule {}

function tokenProfile(id: string, credential: string | null): Record<string, unknown> {
  return {
    ID: id,
    Name: `Token action ${id}`,
    OrgID: 'org-1',
    MatchedPolicyID: 'policy-1',
    ProviderName: 'SocialProvider',
    Type: 'redirect',
    ActionType: 'GenerateTemporaryAuthToken',
    IdentityHandlerConfig: {
      ...(credential === null ? {} : { DashboardCredential: credential }),
      TokenAuth: { BaseAPIID: `api-${id}`, Expires: 600 },
    },
    ProviderConfig: {
      CallbackBaseURL: 'https://sso.example',
      UseProviders: [
        {
          Name: 'openid-connect',
          Key: 'client',
          Secret: 'client-secret-0123456789',
          DiscoverURL: 'https://idp.example/.well-known/openid-configuration',
        },
      ],
    },
    ReturnURL: 'http://app.example/landing',
  };
}

describe('token revocation at deprovisioning (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let ds: DataSource;
  let developers: DevelopersService;
  let worker: DeprovisioningWorker;
  let store: IssuedTokensStore;

  beforeAll(async () => {
    db = await createTestDatabase('tokrevoke');
    app = await createLibApp(
      db,
      ProvisioningModule.forRoot({ imports: [DashboardOnlyModule, ProfilesModule], tokenRevoker: IssuedTokenRevoker }),
    );
    await app.init();
    worker = app.get(DeprovisioningWorker);
    await worker.onApplicationShutdown();
    ds = app.get(DataSource);
    developers = app.get(DevelopersService);
    store = app.get(IssuedTokensStore);
    const profiles = app.get(ProfilesService);
    const ctx = { actor: 'admin:test' };
    await profiles.create('keys', tokenProfile('keys', 'dashboard-credential'), ctx);
    await profiles.create('nocred', tokenProfile('nocred', null), ctx);
    await profiles.create('gone', tokenProfile('gone', 'dashboard-credential'), ctx);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  async function revocations(developerId: string) {
    return await ds.query<{ outcome: string; reason: string | null; profile: string }[]>(
      `SELECT outcome, reason, details->>'profile_id' AS profile FROM audit_events
        WHERE type = 'token.revoked' AND developer_id = $1 ORDER BY id`,
      [developerId],
    );
  }

  const tokensOnRecord = async (developerId: string) =>
    (
      await ds.query<{ profile_id: string }[]>(
        `SELECT profile_id FROM issued_tokens WHERE developer_id = $1 ORDER BY profile_id`,
        [developerId],
      )
    ).map((r) => r.profile_id);

  const outboxRow = async (developerId: string) =>
    (
      await ds.query<{ state: string; tokens: unknown }[]>(
        `SELECT state, tokens FROM deprovisioning_outbox WHERE developer_id = $1`,
        [developerId],
      )
    )[0];

  it('should audit tokens it cannot revoke as failures with the reason, at a block and at the erasure that follows', async () => {
    const subject = 'alice-sub';
    const { developer } = await developers.recordLogin({
      issuer: ISSUER,
      subject,
      email: 'alice@example.com',
      emailVerified: true,
      name: null,
      organisationId: null,
      organisationName: null,
      ssoKey: null,
    });
    for (const profileId of ['keys', 'nocred', 'gone']) {
      await store.set(tokenCacheKey(profileId, ssoKey(subject, 'openid-connect')), `key-${profileId}`, 600, {
        profileId,
        developerId: developer.id,
      });
    }
    await app.get(ProfilesService).remove('gone', { actor: 'admin:test' });

    await developers.block(developer.id, 'admin:test');
    expect(await worker.runOnce()).toBe(1);
    expect(revokeApiKey.mock.calls).toEqual([['api-keys', 'key-keys', 'dashboard-credential']]);
    expect(await revocations(developer.id)).toEqual([
      { outcome: 'success', reason: null, profile: 'keys' },
      { outcome: 'failure', reason: 'no_dashboard_credential', profile: 'nocred' },
      { outcome: 'failure', reason: 'profile_gone', profile: 'gone' },
    ]);
    // Not revoked, so not forgotten; the block's row is done all the same (no retry would help).
    expect(await tokensOnRecord(developer.id)).toEqual(['gone', 'nocred']);
    expect((await outboxRow(developer.id)).state).toBe('done');

    // The erasure takes what is left, reports it again as not revoked, and completes.
    await developers.erase(developer.id, 'admin:test');
    expect(await worker.runOnce()).toBe(1);
    expect(revokeApiKey).toHaveBeenCalledTimes(1);
    expect((await revocations(developer.id)).slice(3)).toEqual([
      { outcome: 'failure', reason: 'no_dashboard_credential', profile: 'nocred' },
      { outcome: 'failure', reason: 'profile_gone', profile: 'gone' },
    ]);
    expect(await tokensOnRecord(developer.id)).toEqual([]);
    expect(await outboxRow(developer.id)).toMatchObject({ state: 'done', tokens: null });
  });
  it('should audit a token kept under a key it cannot make (sealed under another session secret) as token_unreadable at a block', async () => {
    const { developer } = await developers.recordLogin({
      issuer: ISSUER,
      subject: 'bob-sub',
      email: 'bob@example.com',
      emailVerified: true,
      name: null,
      organisationId: null,
      organisationName: null,
      ssoKey: null,
    });
    // What a row written before TYK_IB_SESSION_SECRET was rotated looks like to the revoker: its
    // lookup key is not the one the current secret derives from the subject.
    await store.set(tokenCacheKey('keys', 'keyed-under-the-old-secret'), 'key-old', 600, {
      profileId: 'keys',
      developerId: developer.id,
    });
    revokeApiKey.mockClear();
    await developers.block(developer.id, 'admin:test');
    expect(await worker.runOnce()).toBe(1);
    expect(revokeApiKey).not.toHaveBeenCalled();
    expect(await revocations(developer.id)).toEqual([
      { outcome: 'failure', reason: 'token_unreadable', profile: 'keys' },
    ]);
    expect(await tokensOnRecord(developer.id)).toEqual(['keys']);
  });
});
