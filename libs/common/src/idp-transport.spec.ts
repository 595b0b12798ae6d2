import { isAllowedIdpUrl, isLoopbackHost } from './idp-transport.js';

describe('IdP transport rule', () => {
  it('should treat 127.0.0.0/8, ::1 and localhost as loopback, and nothing else', () => {
    for (const host of ['127.0.0.1', '127.255.0.9', '[::1]', '::1', 'localhost', 'LOCALHOST', 'localhost.']) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    for (const host of ['128.0.0.1', '10.0.0.1', '[::2]', 'localhost.example.com', 'mylocalhost', '127.0.0.1.nip.io']) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });

  it('should allow https anywhere, plain http only to loopback hosts unless allowed', () => {
    expect(isAllowedIdpUrl('https://idp.example.com/x', false)).toBe(true);
    expect(isAllowedIdpUrl('http://127.0.0.1:4000/x', false)).toBe(true);
    expect(isAllowedIdpUrl('http://[::1]:4000/x', false)).toBe(true);
    expect(isAllowedIdpUrl('http://localhost/x', false)).toBe(true);
    expect(isAllowedIdpUrl('http://idp.example.com/x', false)).toBe(false);
    expect(isAllowedIdpUrl('http://127.0.0.1.nip.io/x', false)).toBe(false);
    expect(isAllowedIdpUrl('http://idp.example.com/x', true)).toBe(true);
    expect(isAllowedIdpUrl('ftp://127.0.0.1/x', true)).toBe(false);
    expect(isAllowedIdpUrl('not a url', true)).toBe(false);
  });
});
