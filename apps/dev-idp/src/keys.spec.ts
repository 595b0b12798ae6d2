import { statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { COOKIE_KEYS_FILE, SIGNING_KEYS_FILE, loadOrCreateCookieKeys, loadOrCreateSigningKeys } from './keys.js';

describe('dev IdP keys', () => {
  it('should generate an ES256 JWKS once, owner-only, and read the same keys back', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'dev-idp-keys-')), 'nested');
    const first = await loadOrCreateSigningKeys(dir);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(typeof first[0].d).toBe('string');
    expect(statSync(path.join(dir, SIGNING_KEYS_FILE)).mode & 0o777).toBe(0o600);
    expect(await loadOrCreateSigningKeys(dir)).toEqual(first);
    expect((await loadOrCreateSigningKeys(mkdtempSync(path.join(tmpdir(), 'dev-idp-keys-'))))[0].kid).not.toBe(
      first[0].kid,
    );
  });

  it('should keep cookie keys across calls', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dev-idp-cookies-'));
    const keys = loadOrCreateCookieKeys(dir);
    expect(keys[0].length).toBeGreaterThanOrEqual(32);
    expect(loadOrCreateCookieKeys(dir)).toEqual(keys);
    expect(statSync(path.join(dir, COOKIE_KEYS_FILE)).mode & 0o777).toBe(0o600);
  });

  it('should refuse a corrupted key file instead of silently replacing it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dev-idp-bad-'));
    writeFileSync(path.join(dir, SIGNING_KEYS_FILE), JSON.stringify({ keys: [{ kty: 'RSA' }] }));
    await expect(loadOrCreateSigningKeys(dir)).rejects.toThrow(/ES256/);
    writeFileSync(path.join(dir, COOKIE_KEYS_FILE), 'nope');
    expect(() => loadOrCreateCookieKeys(dir)).toThrow(/not valid JSON/);
  });
});
