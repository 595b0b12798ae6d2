import { DomainError } from '@app/common';
import {
  readDashboardCredential,
  readDisableOneTokenPerApi,
  readOAuthSettings,
  readTokenAuthSettings,
} from './identity-handler-config.js';

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError && error.code === 'profile_invalid') return error.details?.field;
    throw error;
  }
  throw new Error('expected profile_invalid');
}

const OAUTH = {
  APIListenPath: 'oauth-api',
  RedirectURI: 'http://app/cb',
  ResponseType: 'token',
  ClientId: 'client-1',
  Secret: 'never-sent',
  BaseAPIID: 'api-1',
  NoRedirect: true,
};

describe('IdentityHandlerConfig readers', () => {
  it('should read DashboardCredential and DisableOneTokenPerAPI with defaults', () => {
    expect(readDashboardCredential(null)).toBe('');
    expect(readDashboardCredential({ dashboardcredential: 'sec' })).toBe('sec');
    expect(readDisableOneTokenPerApi({})).toBe(false);
    expect(readDisableOneTokenPerApi({ DisableOneTokenPerAPI: true })).toBe(true);
    expect(fieldOf(() => readDisableOneTokenPerApi({ DisableOneTokenPerAPI: 'yes' }))).toBe(
      'IdentityHandlerConfig.DisableOneTokenPerAPI',
    );
  });

  it('should read the OAuth block without the Secret', () => {
    expect(readOAuthSettings({ OAuth: OAUTH })).toEqual({
      APIListenPath: 'oauth-api',
      RedirectURI: 'http://app/cb',
      ResponseType: 'token',
      ClientId: 'client-1',
      BaseAPIID: 'api-1',
      NoRedirect: true,
    });
  });

  it('should name the missing or mistyped OAuth key instead of panicking as TIB does', () => {
    expect(fieldOf(() => readOAuthSettings({}))).toBe('IdentityHandlerConfig.OAuth');
    const { ClientId: _c, ...noClient } = OAUTH;
    expect(fieldOf(() => readOAuthSettings({ OAuth: noClient }))).toBe('IdentityHandlerConfig.OAuth.ClientId');
    expect(fieldOf(() => readOAuthSettings({ OAuth: { ...OAUTH, ClientId: '' } }))).toBe(
      'IdentityHandlerConfig.OAuth.ClientId',
    );
    expect(fieldOf(() => readOAuthSettings({ OAuth: { ...OAUTH, NoRedirect: 'no' } }))).toBe(
      'IdentityHandlerConfig.OAuth.NoRedirect',
    );
    const { NoRedirect: _n, ...noFlag } = OAUTH;
    expect(readOAuthSettings({ OAuth: noFlag }).NoRedirect).toBe(false);
  });

  it('should read TokenAuth with Expires defaulting to 3600 and truncated like Go int64()', () => {
    expect(readTokenAuthSettings({ TokenAuth: { BaseAPIID: 'api-1' } })).toEqual({ BaseAPIID: 'api-1', Expires: 3600 });
    expect(readTokenAuthSettings({ TokenAuth: { BaseAPIID: 'api-1', Expires: 60.9 } }).Expires).toBe(60);
    expect(fieldOf(() => readTokenAuthSettings({ TokenAuth: {} }))).toBe('IdentityHandlerConfig.TokenAuth.BaseAPIID');
    expect(fieldOf(() => readTokenAuthSettings({ TokenAuth: { BaseAPIID: 'a', Expires: '60' } }))).toBe(
      'IdentityHandlerConfig.TokenAuth.Expires',
    );
  });
});
