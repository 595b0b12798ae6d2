import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testSlices } from '@test/support/config.js';
import {
  GENERATED_KEY_FILE,
  loadSigningKey,
  loadTrustedKeys,
  signingKeyFromText,
  trustedKeysFromText,
} from './audit-signing-key.js';

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

  describe('trusted earlier keys (BROKER_AUDIT_TRUSTED_KEYS_FILE)', () => {
    const pem = (type: 'ed25519' | 'ec') =>
      (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')).privateKey
        .export({ format: 'pem', type: 'pkcs8' })
        .toString();

    it('should take a saved GET /api/audit/keys and a single JWK, naming each key by its thumbprint', async () => {
      const a = await signingKeyFromText(pem('ed25519'));
      const b = await signingKeyFromText(pem('ec'));
      const keys = await trustedKeysFromText(JSON.stringify({ keys: [a.publicJwk, b.publicJwk] }));
      expect(keys).toEqual([
        expect.objectContaining({ kid: a.kid, alg: 'EdDSA', kty: 'OKP' }),
        expect.objectContaining({ kid: b.kid, alg: 'ES256', kty: 'EC' }),
      ]);
      // Without a kid the thumbprint names it, as the broker names its own key.
      const { kid: _kid, ...bare } = b.publicJwk;
      expect(await trustedKeysFromText(JSON.stringify(bare))).toEqual([expect.objectContaining({ kid: b.kid })]);
      const file = path.join(dir(), 'keys.json');
      writeFileSync(file, JSON.stringify({ keys: [a.publicJwk] }));
      expect(await loadTrustedKeys({ trustedKeysFile: file })).toHaveLength(1);
      expect(await loadTrustedKeys({ trustedKeysFile: '' })).toEqual([]);
    });

    it('should refuse a private key, a wrong kid, an RSA key, junk and an empty set, saying which key', async () => {
      const a = await signingKeyFromText(pem('ed25519'));
      const priv = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
      const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' });
      const cases: Array<[string, RegExp]> = [
        [JSON.stringify({ keys: [a.publicJwk, priv] }), /key 2 is a private key: give only the public half/],
        [JSON.stringify({ ...a.publicJwk, kid: 'mine' }), /key 1 has kid "mine", but its JWK thumbprint is /],
        [JSON.stringify({ keys: [rsa] }), /key 1: expected an Ed25519 or P-256 \(ES256\) public key, got rsa/],
        [JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: '!!' }] }), /key 1 is not a valid public JWK/],
        [JSON.stringify({ keys: ['x'] }), /key 1: expected a JWK object/],
        ['not json', /expected a JWKS/],
        [JSON.stringify({ keys: [] }), /the JWKS has no keys/],
      ];
      // Hostile text: a NUL or a lone surrogate in the kid, a megabyte of it, the wrong types.
      const kidLike = (kid: string) => JSON.stringify({ keys: [{ ...a.publicJwk, kid }] });
      cases.push(
        [kidLike('x\u0000y'), /key 1 has kid "x\\u0000y", but its JWK thumbprint is /],
        [kidLike('lone-\uD800'), /key 1 has kid "lone-\\ud800", but its JWK thumbprint is /],
        [kidLike('k'.repeat(1024 * 1024)), /key 1 has kid "k{20}/],
        [JSON.stringify({ keys: [{ ...a.publicJwk, x: 'A'.repeat(1024 * 1024) }] }), /key 1 is not a valid public JWK/],
        [JSON.stringify({ keys: 'not-a-list' }), /key 1 is not a valid public JWK/],
        [JSON.stringify(42), /key 1: expected a JWK object/],
        [`${' '.repeat(1024 * 1024)}x`, /expected a JWKS/],
      );
      for (const [text, error] of cases) {
        await expect(trustedKeysFromText(text)).rejects.toThrow(error);
      }
      await expect(loadTrustedKeys({ trustedKeysFile: path.join(dir(), 'missing.json') })).rejects.toThrow(
        /BROKER_AUDIT_TRUSTED_KEYS_FILE: cannot read .*missing\.json \(ENOENT\)/,
      );
    });
  });
});
