import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testSlices } from '@test/support/config.js';
import { GENERATED_KEY_FILE, loadSigningKey } from './audit-signing-key.js';

describe('audit checkpoint signing key', () => {
  const dir = () => mkdtempSync(path.join(tmpdir(), 'audit-key-'));

  it('should refuse to start in production without a key unless signing is off on purpose', async () => {
    const dataDir = dir();
    await expect(
      loadSigningKey(testSlices({ NODE_ENV: 'production', BROKER_DATA_DIR: dataDir }).audit),
    ).rejects.toThrow(/BROKER_AUDIT_SIGNING_KEY_FILE is required with NODE_ENV=production/);
    expect(existsSync(path.join(dataDir, GENERATED_KEY_FILE))).toBe(false);
    const off = await loadSigningKey(testSlices({ NODE_ENV: 'production', BROKER_AUDIT_SIGNING: 'off' }).audit);
    expect(off).toEqual({ key: null, warning: expect.stringMatching(/not signed/) });
  });

  it('should generate an Ed25519 key once in the data folder outside production, with a warning', async () => {
    const dataDir = dir();
    const first = await loadSigningKey(testSlices({ BROKER_DATA_DIR: dataDir }).audit);
    expect(first.warning).toMatch(/generated in .*audit-signing-key\.pem/);
    expect(first.key).toMatchObject({ alg: 'EdDSA', publicJwk: { kty: 'OKP', crv: 'Ed25519' } });
    const again = await loadSigningKey(testSlices({ BROKER_DATA_DIR: dataDir }).audit);
    expect(again.key?.kid).toBe(first.key?.kid);
  });

  it('should read an ES256 key as PEM and as JWK, with the same key id', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const d = dir();
    const pem = path.join(d, 'k.pem');
    const jwk = path.join(d, 'k.jwk');
    writeFileSync(pem, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    writeFileSync(jwk, JSON.stringify(privateKey.export({ format: 'jwk' })));
    const a = await loadSigningKey(testSlices({ BROKER_AUDIT_SIGNING_KEY_FILE: pem, NODE_ENV: 'production' }).audit);
    const b = await loadSigningKey(testSlices({ BROKER_AUDIT_SIGNING_KEY_FILE: jwk }).audit);
    expect(a).toMatchObject({ warning: null, key: { alg: 'ES256', publicJwk: { kty: 'EC', crv: 'P-256' } } });
    expect(a.key?.publicJwk).not.toHaveProperty('d');
    expect(b.key?.kid).toBe(a.key?.kid);
  });

  it('should refuse an RSA key', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = path.join(dir(), 'rsa.pem');
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    await expect(loadSigningKey(testSlices({ BROKER_AUDIT_SIGNING_KEY_FILE: file }).audit)).rejects.toThrow(
      /Ed25519 or P-256/,
    );
  });
});
