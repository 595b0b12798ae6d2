import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadBrokerConfig, secretValues, tykBaseUrl } from './broker-config.js';
import { SessionKeys } from './session-keys.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/tib/tib.conf', import.meta.url));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

function tempConf(content: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'conf-'));
  const file = path.join(dir, 'tib.conf');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('loadBrokerConfig', () => {
  it('should load the integration guide tib.conf as it is', () => {
    const { config, notices } = loadBrokerConfig({ env: {}, argv: ['--conf', FIXTURE] });
    expect(config.secret).toBe('test-secret');
    expect(config.sslInsecureSkipVerify).toBe(true);
    expect(config.httpServerOptions).toEqual({
      useSSL: false,
      certFile: './certs/server.pem',
      keyFile: './certs/server.key',
      sslInsecureSkipVerify: false,
    });
    expect(config.tykApi.dashboard).toEqual({ endpoint: '', port: '3001', adminSecret: 'your-portal-api-secret' });
    expect(config.tykApi.gateway).toEqual({
      endpoint: '',
      port: '8080',
      adminSecret: '352d20ee67be67f6340b4c0605b044b7',
    });
    expect(config.port).toBe(3010);
    expect(notices.join('\n')).toMatch(/BackEnd/);
    expect(notices.join('\n')).toMatch(/log_level/);
  });

  it('should use the defaults with no file and no environment', () => {
    const { config, notices } = loadBrokerConfig({
      env: {},
      argv: [],
      cwd: mkdtempSync(path.join(tmpdir(), 'empty-')),
    });
    expect(config.port).toBe(3010);
    expect(config.secret).toBe('');
    expect(config.logLevel).toBe('info');
    expect(config.database).toEqual({ url: null, migrationUrl: null, poolSize: 10 });
    expect(config.publicUrl).toBe('http://localhost:3010');
    expect(config.configFile).toBeNull();
    expect(config.audit.sealerStalledSeconds).toBe(60);
    expect(notices.join('\n')).toMatch(/admin API is disabled.*TYK_IB_SECRET/);
  });

  it('should let every TIB variable reach the typed config', () => {
    const env = {
      TYK_IB_SECRET: 's',
      TYK_IB_PORT: '4000',
      TYK_IB_HTTPSERVEROPTIONS_USESSL: 'false',
      TYK_IB_HTTPSERVEROPTIONS_CERTFILE: 'c.pem',
      TYK_IB_HTTPSERVEROPTIONS_KEYFILE: 'k.pem',
      TYK_IB_HTTPSERVEROPTIONS_SSLINSECURESKIPVERIFY: 't',
      TYK_IB_SSLINSECURESKIPVERIFY: '1',
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: 'http://portal',
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: '3001',
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ADMINSECRET: 'dash',
      TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_ENDPOINT: 'https://gw',
      TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_PORT: '8080',
      TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_ADMINSECRET: 'gw',
      TYK_IB_SESSION_SECRET: 'sess-0123456789abcdef',
      TYK_LOGLEVEL: 'debug',
      DATABASE_URL: 'postgres://u:p@db:5432/broker',
      DATABASE_MIGRATION_URL: 'postgres://owner:p@db:5432/broker',
      DATABASE_POOL_SIZE: '25',
      BROKER_PUBLIC_URL: 'https://sso.example.com/',
      TYK_PORTAL_ADMIN_TOKEN: 'tok',
      TYK_IB_PROFILES: 'profiles.json',
    };
    const { config } = loadBrokerConfig({ env, argv: [] });
    expect(config.secret).toBe('s');
    expect(config.port).toBe(4000);
    expect(config.httpServerOptions).toEqual({
      useSSL: false,
      certFile: 'c.pem',
      keyFile: 'k.pem',
      sslInsecureSkipVerify: true,
    });
    expect(config.sslInsecureSkipVerify).toBe(true);
    expect(config.tykApi.dashboard).toEqual({ endpoint: 'http://portal', port: '3001', adminSecret: 'dash' });
    expect(tykBaseUrl(config.tykApi.dashboard)).toBe('http://portal:3001');
    expect(config.tykApi.gateway).toEqual({ endpoint: 'https://gw', port: '8080', adminSecret: 'gw' });
    expect(config.sessionSecret).toBe('sess-0123456789abcdef');
    expect(config.logLevel).toBe('debug');
    expect(config.database).toEqual({
      url: 'postgres://u:p@db:5432/broker',
      migrationUrl: 'postgres://owner:p@db:5432/broker',
      poolSize: 25,
    });
    expect(config.publicUrl).toBe('https://sso.example.com');
    expect(config.portal.adminToken).toBe('tok');
    expect(config.profilesFile).toBe('profiles.json');
    expect(secretValues(config)).toEqual(expect.arrayContaining(['s', 'sess-0123456789abcdef', 'dash', 'gw', 'tok']));
  });

  it('should read the portal admin token from TYK_PORTAL_ADMIN_TOKEN_FILE (the compose bootstrap hands it over so)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'token-'));
    writeFileSync(path.join(dir, 'admin-token'), 'tok-from-file\n');
    const { config } = loadBrokerConfig({ env: { TYK_PORTAL_ADMIN_TOKEN_FILE: 'admin-token' }, argv: [], cwd: dir });
    expect(config.portal.adminToken).toBe('tok-from-file');
    expect(secretValues(config)).toContain('tok-from-file');
    const problems = (env: Record<string, string>) => {
      try {
        loadBrokerConfig({ env, argv: [], cwd: dir });
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    writeFileSync(path.join(dir, 'empty'), '\n');
    expect(problems({ TYK_PORTAL_ADMIN_TOKEN_FILE: 'missing' })).toEqual([
      'TYK_PORTAL_ADMIN_TOKEN_FILE: cannot read missing (ENOENT)',
    ]);
    expect(problems({ TYK_PORTAL_ADMIN_TOKEN_FILE: 'empty' })).toEqual(['TYK_PORTAL_ADMIN_TOKEN_FILE: empty is empty']);
    expect(problems({ TYK_PORTAL_ADMIN_TOKEN_FILE: 'admin-token', TYK_PORTAL_ADMIN_TOKEN: 'x' })).toEqual([
      'TYK_PORTAL_ADMIN_TOKEN_FILE: set either it or TYK_PORTAL_ADMIN_TOKEN, not both',
    ]);
  });

  it('should prefer the environment over tib.conf, and tib.conf over defaults', () => {
    const file = tempConf({
      Secret: 'from-file',
      Port: 5000,
      TykAPISettings: { DashboardConfig: { Endpoint: 'http://a', Port: '1' } },
    });
    const { config } = loadBrokerConfig({ env: { TYK_IB_CONFIG: file, TYK_IB_PORT: '6000' }, argv: [] });
    expect(config.secret).toBe('from-file');
    expect(config.port).toBe(6000);
    expect(config.tykApi.dashboard.endpoint).toBe('http://a');
    expect(config.configFile).toBe(file);
  });

  it('should read tib.conf keys case-insensitively, as Go does', () => {
    const file = tempConf({
      secret: 'lower',
      PORT: 3999,
      tykapisettings: { dashboardconfig: { endpoint: 'http://p', port: '3001', ADMINSECRET: 'x' } },
    });
    const { config } = loadBrokerConfig({ env: {}, argv: ['-c', file] });
    expect(config.secret).toBe('lower');
    expect(config.port).toBe(3999);
    expect(config.tykApi.dashboard).toEqual({ endpoint: 'http://p', port: '3001', adminSecret: 'x' });
  });

  // Each expectation below is what Go 1.19's json.Unmarshal gave for the same document into TIB's
  // Configuration shape (string Secret, int Port, structs TykAPISettings/DashboardConfig/HttpServerOptions).
  it('should read keys spelled with the long s (U+017F) and the Kelvin sign (U+212A) as TIB does', () => {
    const file = tempConf({
      '\u017fecret': 'long-s',
      PORT: 3999,
      'Ty\u212aAPI\u017fettings': { 'Da\u017fhboardConfig': { Endpoint: 'http://k', Port: '3001', AdminſecreT: 'x' } },
      'HttpServerOption\u017f': { UseSSL: false },
      'SSLIn\u017fecure\u017f\u212aipVerify': true,
    });
    const { config, notices } = loadBrokerConfig({ env: {}, argv: ['-c', file] });
    expect(config.secret).toBe('long-s');
    expect(config.tykApi.dashboard).toEqual({ endpoint: 'http://k', port: '3001', adminSecret: 'x' });
    expect(config.sslInsecureSkipVerify).toBe(true);
    // They are keys TIB uses, so none is listed as accepted and ignored.
    expect(notices.join('\n')).not.toMatch(/ignored/);
    // The dotless ı folds to nothing in Go: such a key is not Secret.
    const dotless = loadBrokerConfig({ env: {}, argv: ['-c', tempConf({ Secret: 'x', Secretı: 'no' })] });
    expect(dotless.config.secret).toBe('x');
  });

  it('should let the last spelling of a key win, merge two spellings of an object and let null change nothing, as Go decodes', () => {
    const read = (content: unknown) => loadBrokerConfig({ env: {}, argv: ['-c', tempConf(content)] }).config;
    expect(read({ Secret: 'first', '\u017fecret': 'second' }).secret).toBe('second');
    expect(read({ '\u017fecret': 'first', SECRET: 'second' }).secret).toBe('second');
    expect(read({ '\u017fecret': 'first', Secret: null }).secret).toBe('first');
    // Go decodes each spelling into the same struct: fields of both stand, the later wins per field.
    const merged = read({
      'Ty\u212aAPISettings': { DashboardConfig: { Endpoint: 'http://a', Port: '1' } },
      'tykapi\u017fettings': { dashboardconfig: { Port: '2', AdminSecret: 's' } },
    });
    expect(merged.tykApi.dashboard).toEqual({ endpoint: 'http://a', port: '2', adminSecret: 's' });
    const nulled = read({ TykAPISettings: { DashboardConfig: { Endpoint: 'http://a' } }, 'Ty\u212aAPISettings': null });
    expect(nulled.tykApi.dashboard.endpoint).toBe('http://a');
  });

  it('should ignore the file when TYK_IB_OMITCONFIGFILE is "true" in any case, and read it for any other value, as TIB does', () => {
    const file = tempConf({ Secret: 'from-file' });
    for (const omit of ['true', 'TrUe']) {
      const { config } = loadBrokerConfig({ env: { TYK_IB_OMITCONFIGFILE: omit }, argv: ['--conf=' + file] });
      expect(config.secret).toBe('');
    }
    for (const omit of ['1', 'yes', 'false', 'x'.repeat(1024 * 1024), 'tr\u0000ue', '\ud800true']) {
      const { config, notices } = loadBrokerConfig({ env: { TYK_IB_OMITCONFIGFILE: omit }, argv: ['--conf=' + file] });
      expect(config.secret).toBe('from-file');
      // The value is echoed into a notice, clipped (JSON.stringify escapes NUL and lone surrogates).
      for (const n of notices) expect(n.length).toBeLessThan(300);
    }
  });

  it('should take -p/--profiles from the command line', () => {
    expect(loadBrokerConfig({ env: {}, argv: ['-p', 'a.json'] }).config.profilesFile).toBe('a.json');
    expect(loadBrokerConfig({ env: {}, argv: ['--profiles=b.json'] }).config.profilesFile).toBe('b.json');
  });

  it.each([
    [{ TYK_IB_PORT: 'abc' }, /TYK_IB_PORT: expected a whole number from 0 to 65535, got "abc"/],
    [{ TYK_IB_PORT: '70000' }, /TYK_IB_PORT/],
    [{ TYK_IB_SSLINSECURESKIPVERIFY: 'maybe' }, /TYK_IB_SSLINSECURESKIPVERIFY: expected a boolean/],
    [{ TYK_LOGLEVEL: 'loud' }, /TYK_LOGLEVEL: expected one of debug, info, warn, error/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL: expected a postgres/],
    [{ DATABASE_POOL_SIZE: '0' }, /DATABASE_POOL_SIZE/],
    [{ DATABASE_MIGRATION_URL: 'mysql://x' }, /DATABASE_MIGRATION_URL: expected a postgres/],
    [{ BROKER_AUDIT_SIGNING: 'maybe' }, /BROKER_AUDIT_SIGNING: expected on or off/],
    [
      { BROKER_AUDIT_SEALER_STALLED_SECONDS: '0' },
      /BROKER_AUDIT_SEALER_STALLED_SECONDS: expected a whole number from 1 to 86400/,
    ],
    [
      { TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: 'http://portal:3001' },
      /DASHBOARDCONFIG_ENDPOINT: expected scheme and host only/,
    ],
    [{ TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: 'x' }, /DASHBOARDCONFIG_PORT: expected a port number/],
    [{ TYK_IB_HTTPSERVEROPTIONS_USESSL: 'true' }, /TYK_IB_HTTPSERVEROPTIONS_CERTFILE .*expected a readable PEM file/],
    [{ BROKER_PUBLIC_URL: 'not a url' }, /BROKER_PUBLIC_URL: expected an http\(s\) URL/],
    [{ TYK_IB_CONFIG: '/nonexistent/tib.conf' }, /config file not found/],
    [{ BROKER_ADMIN_OIDC_ISSUER: 'http://idp' }, /BROKER_ADMIN_OIDC_AUDIENCE/],
    [{ BROKER_METRICS_TOKEN: 'short' }, /BROKER_METRICS_TOKEN: expected at least 16 printable characters/],
    [{ BROKER_METRICS_TOKEN: 'has a space in it, sixteen+' }, /BROKER_METRICS_TOKEN/],
  ])('should refuse %j with a message naming it', (env, message) => {
    const problems = problemsOf(() => loadBrokerConfig({ env, argv: [] }));
    expect(problems.join('\n')).toMatch(message);
  });

  it.each(['0', '-1', 'abc', '65', '2.5'])('should refuse BROKER_WORKERS=%j naming the range', (value) => {
    const problems = problemsOf(() => loadBrokerConfig({ env: { BROKER_WORKERS: value }, argv: [] }));
    expect(problems.join('\n')).toMatch(
      `BROKER_WORKERS: expected a whole number from 1 to 64 or auto, got ${JSON.stringify(value)}`,
    );
  });

  it.each([
    ['NUL', '2\u0000'],
    ['a lone surrogate', '2\ud800'],
    ['a megabyte', '9'.repeat(1_000_000)],
  ])('should refuse a BROKER_WORKERS with %s', (_what, value) => {
    const problems = problemsOf(() => loadBrokerConfig({ env: { BROKER_WORKERS: value }, argv: [] }));
    expect(problems.join('\n')).toMatch('BROKER_WORKERS: expected a whole number from 1 to 64 or auto');
  });

  it('should run one process by default, take BROKER_WORKERS as a count, and auto as the number of cores', () => {
    const workers = (env: Record<string, string>) => loadBrokerConfig({ env, argv: [] }).config.workers;
    expect(workers({})).toBe(1);
    expect(workers({ BROKER_WORKERS: '2' })).toBe(2);
    expect(workers({ BROKER_WORKERS: '64' })).toBe(64);
    expect(workers({ BROKER_WORKERS: 'auto' })).toBe(Math.min(availableParallelism(), 64));
    expect(workers({ BROKER_WORKERS: 'AUTO' })).toBe(Math.min(availableParallelism(), 64));
  });

  it('should read BROKER_METRICS_TOKEN (off by default) and treat it as a secret for the logs', () => {
    expect(loadBrokerConfig({ env: {}, argv: [] }).config.metrics).toEqual({ token: '' });
    const token = 'metrics-token-0123456789';
    const { config } = loadBrokerConfig({ env: { BROKER_METRICS_TOKEN: token }, argv: [] });
    expect(config.metrics.token).toBe(token);
    expect(secretValues(config)).toContain(token);
  });

  it('should name the tib.conf key when a file value is invalid, and list every problem', () => {
    const file = tempConf({ Port: 'eighty', SSLInsecureSkipVerify: 'yes' });
    const problems = problemsOf(() => loadBrokerConfig({ env: {}, argv: ['-c', file] }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/key Port: expected a whole number/);
    expect(problems[1]).toMatch(/key SSLInsecureSkipVerify: expected a JSON boolean/);
  });

  it('should take only JSON booleans and numbers from tib.conf, as Go decodes it: a quoted "true" never turns TLS checks off', () => {
    for (const [conf, problem] of [
      [
        { SSLInsecureSkipVerify: 'true' },
        /key SSLInsecureSkipVerify: expected a JSON boolean \(true or false, not quoted\), got "true"/,
      ],
      [{ HttpServerOptions: { UseSSL: 'true' } }, /key HttpServerOptions\.UseSSL: expected a JSON boolean/],
      [{ Port: '8080' }, /key Port: expected a whole number from 0 to 65535, got "8080"/],
    ] as const) {
      expect(problemsOf(() => loadBrokerConfig({ env: {}, argv: ['-c', tempConf(conf)] }))).toEqual([
        expect.stringMatching(problem),
      ]);
    }
    const { config } = loadBrokerConfig({
      env: {},
      argv: ['-c', tempConf({ SSLInsecureSkipVerify: true, Port: 8080 })],
    });
    expect(config.port).toBe(8080);
    // The environment stays Go's strconv.ParseBool and decimal text, as envconfig reads it.
    expect(loadBrokerConfig({ env: { TYK_IB_PORT: '8081' }, argv: [] }).config.port).toBe(8081);
  });

  it('should listen on 3010 when Port is 0, as TIB does', () => {
    expect(loadBrokerConfig({ env: {}, argv: ['-c', tempConf({ Port: 0 })] }).config.port).toBe(3010);
    expect(loadBrokerConfig({ env: { TYK_IB_PORT: '0' }, argv: [] }).config.port).toBe(3010);
  });

  it('should refuse a plain-http admin token issuer that is not loopback, unless BROKER_ADMIN_OIDC_ALLOW_INSECURE_HTTP', () => {
    const env = (issuer: string, extra: Record<string, string> = {}) => ({
      BROKER_ADMIN_OIDC_ISSUER: issuer,
      BROKER_ADMIN_OIDC_AUDIENCE: 'urn:broker',
      ...extra,
    });
    expect(problemsOf(() => loadBrokerConfig({ env: env('http://idp.example.com/t'), argv: [] })).join()).toMatch(
      /BROKER_ADMIN_OIDC_ISSUER: expected an https URL .*BROKER_ADMIN_OIDC_ALLOW_INSECURE_HTTP/,
    );
    for (const issuer of [
      'https://idp.example.com/t',
      'http://127.0.0.1:4000/t',
      'http://localhost:4000',
      'http://[::1]:9',
    ]) {
      expect(loadBrokerConfig({ env: env(issuer), argv: [] }).config.adminOidc.issuer).toBe(issuer);
    }
    const allowed = loadBrokerConfig({
      env: env('http://idp.example.com/t', { BROKER_ADMIN_OIDC_ALLOW_INSECURE_HTTP: 'true' }),
      argv: [],
    }).config.adminOidc;
    expect(allowed).toMatchObject({ issuer: 'http://idp.example.com/t', allowInsecureHttp: true });
  });

  it('should refuse a tib.conf that is not JSON', () => {
    const file = tempConf('{ not json');
    expect(problemsOf(() => loadBrokerConfig({ env: {}, argv: ['-c', file] })).join()).toMatch(/not valid JSON/);
  });

  describe('secrets (issue 13)', () => {
    const strong = 'q1Xr8m2Zt4Vb7Nc0Lp5Ke3Wd';
    const load = (env: Record<string, string>) =>
      loadBrokerConfig({ env: { TYK_IB_SESSION_SECRET: strong, ...env }, argv: [], cwd: tmpdir() });

    it.each([
      ['TYK_IB_SECRET', 'change-me-admin-secret'],
      ['TYK_IB_SECRET', 'short-secret'],
      ['TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ADMINSECRET', 'change-me-portal-api-secret'],
      ['TYK_IB_TYKAPISETTINGS_GATEWAYCONFIG_ADMINSECRET', 'gw'],
      ['TYK_PORTAL_ADMIN_TOKEN', 'your-portal-admin-token'],
      ['TYK_IB_SESSION_SECRET', 'change-me-session-secret'],
    ])('should stop a production start when %s is %j, saying how to generate one', (name, value) => {
      const problems = problemsOf(() => load({ NODE_ENV: 'production', [name]: value })).join('\n');
      expect(problems).toContain(name);
      expect(problems).toContain('openssl rand -base64 32');
      expect(problems).not.toContain(value);
    });

    it('should only warn, once, about every weak secret outside production', () => {
      const { config, warnings } = load({
        TYK_IB_SECRET: 'change-me-admin-secret',
        TYK_PORTAL_ADMIN_TOKEN: 'tok',
      });
      expect(config.secret).toBe('change-me-admin-secret');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        /TYK_IB_SECRET \(Secret\) is a placeholder.*TYK_PORTAL_ADMIN_TOKEN is shorter than 16/,
      );
      expect(warnings[0]).not.toContain('change-me-admin-secret');
    });

    it('should accept strong secrets in production without a warning', () => {
      const { warnings } = load({ NODE_ENV: 'production', TYK_IB_SECRET: 'Zx8vQ2mN5rT1wY7uK3pL9sD4' });
      expect(warnings).toEqual([]);
    });

    it('should stop any start when TYK_IB_SESSION_SECRET is shorter than 16 characters', () => {
      const problems = problemsOf(() => load({ TYK_IB_SESSION_SECRET: 'fifteen-chars!!' }));
      expect(problems.join('\n')).toMatch(/TYK_IB_SESSION_SECRET: expected at least 16 characters, got 15/);
    });

    it('should warn once what a missing TYK_IB_SESSION_SECRET breaks', () => {
      const { warnings } = loadBrokerConfig({ env: {}, argv: [], cwd: tmpdir() });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/TYK_IB_SESSION_SECRET is not set.*restart.*instances/);
    });
  });
});

describe('SessionKeys', () => {
  it('should derive one key per purpose, the same on every instance with the same secret', () => {
    const a = new SessionKeys('q1Xr8m2Zt4Vb7Nc0Lp5Ke3Wd');
    const b = new SessionKeys('q1Xr8m2Zt4Vb7Nc0Lp5Ke3Wd');
    expect(a.key('cursor')).toHaveLength(32);
    expect(a.key('cursor').equals(b.key('cursor'))).toBe(true);
    expect(a.key('cursor').equals(a.key('token-store'))).toBe(false);
    expect(a.key('cursor').equals(new SessionKeys('another-secret-of-length').key('cursor'))).toBe(false);
  });

  it('should use one random secret per process when none is set', () => {
    const a = new SessionKeys('');
    expect(a.key('cursor').equals(new SessionKeys('').key('cursor'))).toBe(true);
    expect(a.key('cursor').equals(new SessionKeys('q1Xr8m2Zt4Vb7Nc0Lp5Ke3Wd').key('cursor'))).toBe(false);
  });
});
