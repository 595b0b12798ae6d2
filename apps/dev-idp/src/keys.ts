import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export const SIGNING_KEYS_FILE = 'signing-keys.jwks.json';
export const COOKIE_KEYS_FILE = 'cookie-keys.json';

/** A private ES256 signing key as oidc-provider wants it in `jwks.keys`. */
export interface PrivateSigningJwk extends JWK {
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

/** Writes a file readable by its owner only, through a temp file so a crash never leaves half a key. */
function writePrivateFile(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`${file} is not valid JSON; delete it to have new keys generated`);
  }
}

function isSigningJwk(key: unknown): key is PrivateSigningJwk {
  if (typeof key !== 'object' || key === null) return false;
  const k = key as Record<string, unknown>;
  return (
    k.kty === 'EC' &&
    k.crv === 'P-256' &&
    k.alg === 'ES256' &&
    typeof k.kid === 'string' &&
    typeof k.d === 'string' &&
    typeof k.x === 'string' &&
    typeof k.y === 'string'
  );
}

/** Generates one private ES256 JWK whose kid is its RFC 7638 thumbprint. */
export async function generateSigningJwk(): Promise<PrivateSigningJwk> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg: 'ES256', use: 'sig' };
}

/**
 * The ES256 signing keys kept in `<dataDir>/signing-keys.jwks.json`: generated on first run, then
 * read back on every start so tokens and the published JWKS keep the same kid across restarts.
 */
export async function loadOrCreateSigningKeys(dataDir: string): Promise<PrivateSigningJwk[]> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, SIGNING_KEYS_FILE);
  if (existsSync(file)) {
    const parsed = readJson(file) as { keys?: unknown };
    const keys = Array.isArray(parsed.keys) ? parsed.keys : [];
    if (keys.length === 0 || !keys.every(isSigningJwk)) {
      throw new Error(`${file} must hold a JWKS of private ES256 (P-256) keys with kid; delete it to regenerate`);
    }
    return keys;
  }
  const keys = [await generateSigningJwk()];
  writePrivateFile(file, `${JSON.stringify({ keys }, null, 2)}\n`);
  return keys;
}

/** The cookie-signing keys kept in `<dataDir>/cookie-keys.json`, generated once like the JWKS. */
export function loadOrCreateCookieKeys(dataDir: string): string[] {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, COOKIE_KEYS_FILE);
  if (existsSync(file)) {
    const keys = readJson(file);
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k.length >= 32)) {
      throw new Error(`${file} must be a JSON array of strings of 32+ characters; delete it to regenerate`);
    }
    return keys as string[];
  }
  const keys = [randomBytes(32).toString('base64url')];
  writePrivateFile(file, `${JSON.stringify(keys)}\n`);
  return keys;
}
