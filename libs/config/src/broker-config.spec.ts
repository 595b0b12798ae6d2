import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadBrokerConfig, secretValues, tykBaseUrl } from './broker-config.js';

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
      TYK_IB_SESSION_SECRET: 'sess',
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
    expect(config.sessionSecret).toBe('sess');
    expect(config.logLevel).toBe('debug');
    expect(config.database).toEqual({
      url: 'postgres://u:p@db:5432/broker',
      migrationUrl: 'postgres://owner:p@db:5432/broker',
      poolSize: 25,
    });
    expect(config.publicUrl).toBe('https://sso.example.com');
    expect(config.portal.adminToken).toBe('tok');
    expect(config.profilesFile).toBe('profiles.json');
    expect(secretValues(config)).toEqual(expect.arrayContaining(['s', 'sess', 'dash', 'gw', 'tok']));
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

  it('should ignore the file when TYK_IB_OMITCONFIGFILE is true', () => {
    const file = tempConf({ Secret: 'from-file' });
    const { config } = loadBrokerConfig({ env: { TYK_IB_OMITCONFIGFILE: 'true' }, argv: ['--conf=' + file] });
    expect(config.secret).toBe('');
  });

  it('should take -p/--profiles from the command line', () => {
    expect(loadBrokerConfig({ env: {}, argv: ['-p', 'a.json'] }).config.profilesFile).toBe('a.json');
    expect(loadBrokerConfig({ env: {}, argv: ['--profiles=b.json'] }).config.profilesFile).toBe('b.json');
  });

  it.each([
    [{ TYK_IB_PORT: 'abc' }, /TYK_IB_PORT: expected a whole number from 1 to 65535, got "abc"/],
    [{ TYK_IB_PORT: '70000' }, /TYK_IB_PORT/],
    [{ TYK_IB_SSLINSECURESKIPVERIFY: 'maybe' }, /TYK_IB_SSLINSECURESKIPVERIFY: expected a boolean/],
    [{ TYK_LOGLEVEL: 'loud' }, /TYK_LOGLEVEL: expected one of debug, info, warn, error/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL: expected a postgres/],
    [{ DATABASE_POOL_SIZE: '0' }, /DATABASE_POOL_SIZE/],
    [{ DATABASE_MIGRATION_URL: 'mysql://x' }, /DATABASE_MIGRATION_URL: expected a postgres/],
    [{ BROKER_AUDIT_SIGNING: 'maybe' }, /BROKER_AUDIT_SIGNING: expected on or off/],
    [
      { TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: 'http://portal:3001' },
      /DASHBOARDCONFIG_ENDPOINT: expected scheme and host only/,
    ],
    [{ TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: 'x' }, /DASHBOARDCONFIG_PORT: expected a port number/],
    [{ TYK_IB_HTTPSERVEROPTIONS_USESSL: 'true' }, /TYK_IB_HTTPSERVEROPTIONS_CERTFILE .*expected a readable PEM file/],
    [{ BROKER_PUBLIC_URL: 'not a url' }, /BROKER_PUBLIC_URL: expected an http\(s\) URL/],
    [{ TYK_IB_CONFIG: '/nonexistent/tib.conf' }, /config file not found/],
    [{ BROKER_ADMIN_OIDC_ISSUER: 'http://idp' }, /BROKER_ADMIN_OIDC_AUDIENCE/],
  ])('should refuse %j with a message naming it', (env, message) => {
    const problems = problemsOf(() => loadBrokerConfig({ env, argv: [] }));
    expect(problems.join('\n')).toMatch(message);
  });

  it('should name the tib.conf key when a file value is invalid, and list every problem', () => {
    const file = tempConf({ Port: 'eighty', SSLInsecureSkipVerify: 'yes' });
    const problems = problemsOf(() => loadBrokerConfig({ env: {}, argv: ['-c', file] }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/key Port: expected a whole number/);
    expect(problems[1]).toMatch(/key SSLInsecureSkipVerify: expected a boolean/);
  });

  it('should refuse a tib.conf that is not JSON', () => {
    const file = tempConf('{ not json');
    expect(problemsOf(() => loadBrokerConfig({ env: {}, argv: ['-c', file] })).join()).toMatch(/not valid JSON/);
  });
});
