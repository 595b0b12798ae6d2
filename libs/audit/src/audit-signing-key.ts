import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { MAX_KEY_FILE_BYTES, readSmallText } from './small-file.js';
import path from 'node:path';
import type { AuditConfig } from '@app/config';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** The key that signs checkpoints; it lives outside the database (issue 14). */
export interface AuditSigningKey {
  alg: 'EdDSA' | 'ES256';
  kid: string;
  privateKey: KeyObject;
  /** The public half as published by GET /api/audit/keys. */
  publicJwk: JWK;
}

export interface LoadedSigningKey {
  key: AuditSigningKey | null;
  /** A line for the start-up log when the set-up is not the recommended one. */
  warning: string | null;
}

/** Where the broker keeps a generated key when none is configured (outside Postgres). */
export const GENERATED_KEY_FILE = 'audit-signing-key.pem';

function algOf(
  key: KeyObject,
  what = 'BROKER_AUDIT_SIGNING_KEY_FILE: expected an Ed25519 or P-256 (ES256) private key',
): 'EdDSA' | 'ES256' {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(`${what}, got ${key.asymmetricKeyType ?? key.type}`);
}

/** Reads a PEM (PKCS#8 or SEC1) or a JWK private key. */
export async function signingKeyFromText(text: string): Promise<AuditSigningKey> {
  const trimmed = text.trim();
  const privateKey = trimmed.startsWith('{')
    ? createPrivateKey({ key: JSON.parse(trimmed) as JsonWebKey, format: 'jwk' })
    : createPrivateKey(trimmed);
  if (privateKey.type !== 'private') throw new Error('BROKER_AUDIT_SIGNING_KEY_FILE: expected a private key');
  const alg = algOf(privateKey);
  const publicJwk = await publishedJwk(createPublicKey(privateKey), alg);
  return { alg, kid: publicJwk.kid as string, privateKey, publicJwk };
}

/** A public key as GET /api/audit/keys publishes it: its JWK, named by its thumbprint, with alg and use. */
async function publishedJwk(publicKey: KeyObject, alg: 'EdDSA' | 'ES256'): Promise<JWK> {
  const exported = publicKey.export({ format: 'jwk' }) as JWK;
  return { ...exported, kid: await calculateJwkThumbprint(exported), alg, use: 'sig' };
}

/**
 * The configured key (BROKER_AUDIT_SIGNING_KEY_FILE); without one, a key generated once in the data
 * folder, with a warning; in production (NODE_ENV=production) a missing key stops the start unless
 * BROKER_AUDIT_SIGNING=off says so on purpose.
 */
export async function loadSigningKey(config: AuditConfig): Promise<LoadedSigningKey> {
  if (!config.signing) {
    return { key: null, warning: 'audit checkpoints are not signed (BROKER_AUDIT_SIGNING=off)' };
  }
  if (config.signingKeyFile) {
    return { key: await signingKeyFromText(readSmallText(config.signingKeyFile, MAX_KEY_FILE_BYTES)), warning: null };
  }
  if (config.production) {
    throw new Error(
      'BROKER_AUDIT_SIGNING_KEY_FILE is required with NODE_ENV=production (an Ed25519 or ES256 private key, PEM or JWK, kept outside the database); set BROKER_AUDIT_SIGNING=off to run without signed checkpoints on purpose',
    );
  }
  const file = path.join(config.dataDir, GENERATED_KEY_FILE);
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    try {
      writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another instance sharing the data folder wrote it first: use theirs.
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
  }
  return {
    key: await signingKeyFromText(readSmallText(file, MAX_KEY_FILE_BYTES)),
    warning: `audit checkpoints are signed with a key generated in ${file}: set BROKER_AUDIT_SIGNING_KEY_FILE to a key kept outside the broker's data folder`,
  };
}

const TRUSTED = 'BROKER_AUDIT_TRUSTED_KEYS_FILE';

/**
 * The public keys of earlier signing keys that this broker trusts besides its own: a JWKS (a saved
 * `GET /api/audit/keys`) or one JWK. Each key must be a public Ed25519 or P-256 key; its kid is its
 * JWK thumbprint, as the broker names its own key (a different kid in the file is refused).
 */
export async function trustedKeysFromText(text: string): Promise<JWK[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${TRUSTED}: expected a JWKS ({"keys": [...]}, as GET /api/audit/keys answers) or one JWK, as JSON`,
      { cause: e },
    );
  }
  const set = parsed as { keys?: unknown } | null;
  const items: unknown[] = set !== null && typeof set === 'object' && Array.isArray(set.keys) ? set.keys : [parsed];
  const keys: JWK[] = [];
  for (const [i, item] of items.entries()) {
    const at = `${TRUSTED}: key ${i + 1}`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new Error(`${at}: expected a JWK object`);
    }
    const jwk = item as JWK;
    if ('d' in jwk) {
      throw new Error(`${at} is a private key: give only the public half (as GET /api/audit/keys publishes it)`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (e) {
      throw new Error(`${at} is not a valid public JWK (${e instanceof Error ? e.message : String(e)})`, { cause: e });
    }
    const published = await publishedJwk(key, algOf(key, `${at}: expected an Ed25519 or P-256 (ES256) public key`));
    if (jwk.kid !== undefined && jwk.kid !== published.kid) {
      throw new Error(`${at} has kid ${JSON.stringify(jwk.kid)}, but its JWK thumbprint is ${published.kid}`);
    }
    keys.push(published);
  }
  if (keys.length === 0) throw new Error(`${TRUSTED}: the JWKS has no keys`);
  return keys;
}

/** BROKER_AUDIT_TRUSTED_KEYS_FILE read and checked; none when unset. */
export async function loadTrustedKeys(config: Pick<AuditConfig, 'trustedKeysFile'>): Promise<JWK[]> {
  if (!config.trustedKeysFile) return [];
  let text: string;
  try {
    text = readSmallText(config.trustedKeysFile, MAX_KEY_FILE_BYTES);
  } catch (e) {
    throw new Error(
      `${TRUSTED}: cannot read ${config.trustedKeysFile} (${(e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e))})`,
      { cause: e },
    );
  }
  return trustedKeysFromText(text);
}

/**
 * The public halves of `files` as one JWKS, for BROKER_AUDIT_TRUSTED_KEYS_FILE (`audit public-key`):
 * each file is a private key (PEM or JWK, as BROKER_AUDIT_SIGNING_KEY_FILE) or public keys (a JWKS
 * such as a saved GET /api/audit/keys, or one JWK). Every key is checked as the broker checks it at
 * start; a key appears once however many files hold it.
 */
export async function publicKeysOfFiles(files: string[]): Promise<{ keys: JWK[] }> {
  const keys = new Map<string, JWK>();
  for (const file of files) {
    const text = readSmallText(file, MAX_KEY_FILE_BYTES);
    let found: JWK[];
    try {
      found = [(await signingKeyFromText(text)).publicJwk];
    } catch {
      try {
        found = await trustedKeysFromText(text);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new Error(`${file}: neither a private key nor public keys (${why})`, { cause: e });
      }
    }
    for (const jwk of found) keys.set(jwk.kid as string, jwk);
  }
  return { keys: [...keys.values()] };
}
