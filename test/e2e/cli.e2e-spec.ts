import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { signingKeyFromText, trustedKeysFromText } from '@app/audit';
import pg from 'pg';
import { runBroker } from '@test/support/built.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';

const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/tib/profiles.json');

describe('the command line (built entry, real Postgres)', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  const dir = mkdtempSync(path.join(tmpdir(), 'cli-'));

  const keyFile = path.join(dir, 'audit-signing-key.pem');

  beforeAll(async () => {
    db = await createTestDatabase('cli');
    writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }));
    env = { DATABASE_URL: db.url, TYK_LOGLEVEL: 'warn', BROKER_AUDIT_SIGNING_KEY_FILE: keyFile };
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('should import the integration guide profiles.json as it is, then list and export it', async () => {
    const imported = await runBroker(['profiles', 'import', FIXTURE], env);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/1 created, 0 replaced/);

    const list = await runBroker(['profiles', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+NAME\s+ACTION/m);
    expect(list.stdout).toMatch(/^1\s+GenerateOrLoginDeveloperProfile\s+SocialProvider\s+1/m);

    const out = path.join(dir, 'export.json');
    const exported = await runBroker(['profiles', 'export', out], env);
    expect(exported.code).toBe(0);
    const original = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>[];
    const back = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>[];
    expect(back).toHaveLength(1);
    expect(back[0].ProviderConfig).toEqual(original[0].ProviderConfig);
    expect(back[0].ID).toBe('1');

    // Re-importing the export replaces, and the file stays TIB-compatible.
    const again = await runBroker(['profiles', 'import', out], env);
    expect(again.stderr).toBe('');
    expect(again.stdout).toMatch(/0 created, 1 replaced/);
  });

  it('should import nothing from a file with one bad profile among good ones, naming index and field', async () => {
    const good = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>[];
    const broken = [
      { ...good[0], ID: 'good-1' },
      { ...good[0], ID: 'bad-2', ActionType: 'DoSomethingElse' },
      { ...good[0], ID: 'good-3' },
    ];
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, JSON.stringify(broken));
    const res = await runBroker(['profiles', 'import', file], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\[1\]\.ActionType: must be one of/);
    expect(res.stderr).toMatch(/nothing was imported/);
    const list = await runBroker(['profiles', 'list'], env);
    expect(list.stdout).not.toMatch(/good-1|good-3|bad-2/);
  });

  it('should verify the audit chain (the imports above were audited) and export it', async () => {
    const res = await runBroker(['audit', 'verify'], env);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const result = JSON.parse(res.stdout.trim()) as { status: string; count: number };
    expect(result.status).toBe('intact');
    expect(result.count).toBeGreaterThanOrEqual(2);
    const exported = await runBroker(['audit', 'export', '-', 'ndjson'], env);
    expect(exported.code).toBe(0);
    const types = exported.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(expect.arrayContaining(['profile.created', 'profile.updated']));
  });

  it('should verify an export offline, with no database and no broker, and report one flipped byte', async () => {
    expect((await runBroker(['audit', 'checkpoint'], env)).stdout).toMatch(/signed 1 checkpoint/);
    const exportFile = path.join(dir, 'audit.ndjson');
    expect((await runBroker(['audit', 'export', exportFile], env)).code).toBe(0);
    const keysFile = path.join(dir, 'keys.json');
    const checkpointsFile = path.join(dir, 'checkpoints.json');
    const { publicJwk } = await signingKeyFromText(readFileSync(keyFile, 'utf8'));
    writeFileSync(keysFile, JSON.stringify({ keys: [publicJwk] }));
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query(
        `SELECT first_seq::text, last_seq::text, last_hash, prev_checkpoint_hash, event_count::text, kid, jws FROM audit_checkpoints`,
      );
      writeFileSync(checkpointsFile, JSON.stringify({ data: rows }));
    } finally {
      await c.end();
    }
    // No DATABASE_URL and an empty data folder: nothing to connect to, nothing started.
    const offline = (file: string) =>
      runBroker(['audit', 'verify', '--export', file, '--keys', keysFile, '--checkpoints', checkpointsFile], {
        BROKER_DATA_DIR: path.join(dir, 'empty'),
        TYK_LOGLEVEL: 'warn',
      });
    const ok = await offline(exportFile);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'intact', checkpoints: 1 });
    const bytes = readFileSync(exportFile);
    const at = bytes.indexOf('profile.updated');
    bytes[at] = 'P'.charCodeAt(0);
    const flipped = path.join(dir, 'flipped.ndjson');
    writeFileSync(flipped, bytes);
    const bad = await offline(flipped);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ status: 'broken', problem: 'hash_mismatch' });
  });

  it('should print the public JWKS of a key file and a saved JWKS together, for a rotation', async () => {
    const current = await signingKeyFromText(readFileSync(keyFile, 'utf8'));
    const next = path.join(dir, 'next-key.json');
    writeFileSync(
      next,
      JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })),
    );
    const saved = path.join(dir, 'saved-keys.json');
    writeFileSync(saved, JSON.stringify({ keys: [current.publicJwk] }));
    const res = await runBroker(['audit', 'public-key', saved, next, keyFile], env);
    expect(res.code).toBe(0);
    const { keys } = JSON.parse(res.stdout) as { keys: Array<Record<string, unknown>> };
    // The current key once (saved and as a file), the next one, public halves only.
    expect(keys.map((k) => [k.kid, k.alg])).toEqual([
      [current.kid, 'EdDSA'],
      [expect.any(String), 'ES256'],
    ]);
    expect(keys.every((k) => !('d' in k))).toBe(true);
    // What it prints is what the broker takes in BROKER_AUDIT_TRUSTED_KEYS_FILE.
    expect(await trustedKeysFromText(res.stdout)).toHaveLength(2);
    const junk = path.join(dir, 'junk.txt');
    writeFileSync(junk, 'not a key');
    const bad = await runBroker(['audit', 'public-key', junk], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/junk\.txt: neither a private key nor public keys/);
    // A wrong path is read no further than a key file can be long.
    const endless = await runBroker(['audit', 'public-key', '/dev/zero'], env);
    expect(endless.code).toBe(1);
    expect(endless.stderr).toMatch(/audit public-key: \/dev\/zero is larger than 1048576 bytes/);
    expect((await runBroker(['audit', 'public-key'], env)).code).toBe(2);
  });

  it('should apply the migrations and find them in agreement with the entities (migration check)', async () => {
    const run = await runBroker(['migration', 'run'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/no pending migrations|applied/);
    const check = await runBroker(['migration', 'check'], env);
    expect(check.stderr).toBe('');
    expect(check.stdout).toMatch(/migrations and entities agree/);
    expect(check.code).toBe(0);
  });

  it('should print usage and exit 2 for an unknown command', async () => {
    const res = await runBroker(['frobnicate'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/Usage: npm run broker/);
  });

  it('should import -p profiles.json at start-up and refuse to start on a bad file', async () => {
    const file = path.join(dir, 'startup-broken.json');
    writeFileSync(file, '[{"ID": "x", "ActionType": "nope"}]');
    const res = await runBroker(['-p', file], { ...env, TYK_IB_PORT: '39999' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\[0\]\.ActionType/);
  });
});
