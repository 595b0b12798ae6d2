// The benchmark's IdP is the one fake IdP of the tests (test/support/fake-idp.ts, issue 18: one
// fake per external system), with `users` (many developers at once, chosen by `login_hint`),
// `redirectUris` and `fastSigning` (ES256 signed with node:crypto, so the IdP takes little of the
// CPU the broker is measured on). Node 20 cannot import TypeScript, so the file is compiled with
// swc (type stripping only) into dist/bench/ and imported from there.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transformFileSync } from '@swc/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** @returns {Promise<typeof import('../test/support/fake-idp.js')>} */
async function loadFakeIdp() {
  const { code } = transformFileSync(path.join(root, 'test/support/fake-idp.ts'), {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    sourceMaps: false,
  });
  const out = path.join(root, 'dist/bench/fake-idp.mjs');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, code);
  return import(pathToFileURL(out).href);
}

const fake = await loadFakeIdp();

/**
 * The users the IdP knows: `count` subjects spread round-robin over `orgs` organisations.
 * Subject `bench-user-<i>`, a verified email, names, and the Cloudentity organisation claims.
 * @param {number} count
 * @param {number} orgs
 */
export function benchUsers(count, orgs) {
  return fake.fakeIdpUsers(count, orgs, 'bench-user');
}

/**
 * Starts the IdP on 127.0.0.1 with ES256 ID tokens signed by node:crypto.
 * @param {{ clientId: string, clientSecret: string, redirectUris: string[], users: ReturnType<typeof benchUsers>, tenantPath?: string, clients?: import('../test/support/fake-idp.js').FakeIdpClient[] }} options
 */
export function startFastIdp(options) {
  return fake.startFakeIdp({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUris: options.redirectUris,
    users: options.users,
    tenantPath: options.tenantPath ?? '/bench/developers',
    fastSigning: true,
    clients: options.clients,
  });
}
