import { MASK, maskSecrets } from '@app/common';
import { decodeProfileOrThrow, socialProvider } from './profile.codec.js';
import { profileDiff } from './profile-diff.js';

describe('profileDiff and the console view of a profile', () => {
  it('should mask a secret whose key only Go folding reads as Secret (U+017F), as the login path uses it', () => {
    const p = decodeProfileOrThrow({
      ID: 'p1',
      ActionType: 'GenerateOrLoginDeveloperProfile',
      ProviderName: 'SocialProvider',
      ProviderConfig: {
        CallbackBaseURL: 'https://b.example',
        UseProviders: [
          {
            Name: 'openid-connect',
            Key: 'client',
            '\u017Fecret': 'S3CRET-VALUE',
            DiscoverURL: 'https://idp.example/.well-known/openid-configuration',
          },
        ],
      },
    });
    expect(socialProvider(p, 'openid-connect')?.Secret).toBe('S3CRET-VALUE');
    expect(JSON.stringify(maskSecrets(p.ProviderConfig))).not.toContain('S3CRET-VALUE');
    const diff = profileDiff({}, p);
    expect(JSON.stringify(diff)).not.toContain('S3CRET-VALUE');
    expect(JSON.stringify(diff)).toContain(MASK);
  });
});
