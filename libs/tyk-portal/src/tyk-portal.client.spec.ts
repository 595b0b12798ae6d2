import { jest } from '@jest/globals';
import { BrokerConfigModule } from '@app/config';
import { Test } from '@nestjs/testing';
import { testConfig } from '@test/support/config.js';
import { TykDeveloperApiClient } from './developer-api.client.js';
import { TykManagementApiClient } from './management-api.client.js';
import { TykSsoApiClient } from './sso-api.client.js';
import { TykPortalClient } from './tyk-portal.client.js';
import { TykPortalModule } from './tyk-portal.module.js';

describe('TykPortalClient (one injectable over the SSO, developer and management API clients)', () => {
  it('should hand each call to the client of its API', async () => {
    const module = await Test.createTestingModule({
      imports: [BrokerConfigModule.forRoot(testConfig()), TykPortalModule.forRoot()],
    }).compile();
    const facade = module.get(TykPortalClient);
    const sso = module.get(TykSsoApiClient);
    const developers = module.get(TykDeveloperApiClient);
    const management = module.get(TykManagementApiClient);
    expect([facade.sso, facade.developers, facade.management]).toEqual([sso, developers, management]);

    const nonce = jest.spyOn(sso, 'createNonce').mockResolvedValue('nonce');
    const bySsoKey = jest.spyOn(developers, 'findDeveloperBySsoKey').mockResolvedValue(null);
    const byEmail = jest.spyOn(management, 'findUserIdByEmail').mockResolvedValue('42');
    const page = jest.spyOn(management, 'listUsersPage').mockResolvedValue([]);
    const request = {
      ForSection: 'portal' as const,
      OrgID: 'o',
      EmailAddress: 'a@example.com',
      DisplayName: 'A',
      GroupID: '',
      GroupsIDs: [],
      SSOOnlyForRegisteredUsers: false,
    };
    await expect(facade.createNonce(request, 'secret')).resolves.toBe('nonce');
    await expect(facade.findDeveloperBySsoKey('k', 'secret')).resolves.toBeNull();
    await expect(facade.findUserIdByEmail('a@example.com')).resolves.toBe('42');
    await expect(facade.listUsersPage(3, 7)).resolves.toEqual([]);
    expect(nonce).toHaveBeenCalledWith(request, 'secret');
    expect(bySsoKey).toHaveBeenCalledWith('k', 'secret');
    expect(byEmail).toHaveBeenCalledWith('a@example.com', 100);
    expect(page).toHaveBeenCalledWith(3, 7);
    await module.close();
  });
});
