import { Inject, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadBrokerConfig, type BrokerConfig } from './broker-config.js';
import { BrokerConfigModule } from './broker-config.module.js';
import {
  adminConfig,
  auditConfig,
  configSlices,
  databaseConfig,
  oidcConfig,
  portalConfig,
  provisioningConfig,
  serverConfig,
  type AdminConfig,
  type DatabaseConfig,
  type ServerConfig,
} from './config-slices.js';

@Injectable()
class NeedsSlices {
  constructor(
    @Inject(serverConfig.KEY) readonly server: ServerConfig,
    @Inject(databaseConfig.KEY) readonly database: DatabaseConfig,
    @Inject(adminConfig.KEY) readonly admin: AdminConfig,
  ) {}
}

const load = (env: Record<string, string>, cwd = '/tmp'): BrokerConfig => loadBrokerConfig({ env, cwd }).config;

async function appWith(config: BrokerConfig) {
  const moduleRef = await Test.createTestingModule({
    imports: [BrokerConfigModule.forRoot(config)],
    providers: [NeedsSlices],
  }).compile();
  return { slices: moduleRef.get(NeedsSlices), configService: moduleRef.get(ConfigService), moduleRef };
}

describe('config slices (registerAs)', () => {
  it('should give each of two apps in one process the slices of its own config', async () => {
    const a = await appWith(load({ TYK_IB_PORT: '4001', DATABASE_POOL_SIZE: '3', TYK_IB_SECRET: 'a'.repeat(20) }));
    const b = await appWith(load({ TYK_IB_PORT: '4002', DATABASE_POOL_SIZE: '7' }));
    try {
      expect(a.slices.server.port).toBe(4001);
      expect(b.slices.server.port).toBe(4002);
      expect([a.slices.database.poolSize, b.slices.database.poolSize]).toEqual([3, 7]);
      expect([a.slices.admin.secret, b.slices.admin.secret]).toEqual(['a'.repeat(20), '']);
      // The same slices through ConfigService, and never from process.env.
      expect(a.configService.get<number>('server.port')).toBe(4001);
      expect(b.configService.get<number>('database.poolSize')).toBe(7);
      process.env['server.port'] = '9';
      expect(b.configService.get<number>('server.port')).toBe(4002);
    } finally {
      delete process.env['server.port'];
      await Promise.all([a.moduleRef.close(), b.moduleRef.close()]);
    }
  });

  it('should keep the TIB precedence: environment over tib.conf over defaults', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'slices-'));
    writeFileSync(path.join(dir, 'tib.conf'), JSON.stringify({ Port: 4100, Secret: 'b'.repeat(20) }));
    const fromFile = await appWith(load({}, dir));
    const fromEnv = await appWith(load({ TYK_IB_PORT: '4200' }, dir));
    const defaults = await appWith(load({}));
    try {
      expect(fromFile.slices.server.port).toBe(4100);
      expect(fromFile.slices.admin.secret).toBe('b'.repeat(20));
      expect(fromEnv.slices.server.port).toBe(4200);
      expect(defaults.slices.server.port).toBe(3010);
      expect(defaults.slices.server.publicUrl).toBe('http://localhost:3010');
    } finally {
      await Promise.all([fromFile.moduleRef.close(), fromEnv.moduleRef.close(), defaults.moduleRef.close()]);
    }
  });

  it('should give every concern its own slice of the validated config', () => {
    const config = load({
      BROKER_PUBLIC_URL: 'https://broker.example.com/',
      DATABASE_URL: 'postgres://app@db/broker',
      BROKER_AUDIT_RETENTION_DAYS: '30',
      BROKER_IDP_TIMEOUT_MS: '1500',
      TYK_IB_SSLINSECURESKIPVERIFY: 'true',
      TYK_PORTAL_RETRIES: '4',
      BROKER_AUDIT_STREAM_URL: 'https://siem.example.com/in',
      BROKER_AUDIT_STREAM_SECRET: 'c'.repeat(32),
      BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '5',
      BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: '50',
      BROKER_DEPROVISION_INACTIVE_DAYS: '90',
    });
    const s = configSlices(config);
    expect(Object.keys(s)).toEqual(['server', 'database', 'oidc', 'portal', 'audit', 'admin', 'provisioning']);
    expect(s.server).toMatchObject({ publicUrl: 'https://broker.example.com', rateLimit: { loginPerMinute: 50 } });
    expect(s.database).toEqual({
      url: 'postgres://app@db/broker',
      migrationUrl: null,
      poolSize: 10,
      auditRetentionDays: 30,
    });
    expect(s.oidc).toMatchObject({ timeoutMs: 1500, sslInsecureSkipVerify: true });
    // As in TIB, the top-level flag is the IdP's; the portal's is HttpServerOptions' under UseSSL.
    expect(s.portal).toMatchObject({ retries: 4, sslInsecureSkipVerify: false, tykApi: config.tykApi });
    expect(s.audit).toMatchObject({ retentionDays: 30, stream: { url: 'https://siem.example.com/in' } });
    expect(s.admin).toMatchObject({ failuresPerMinute: 5, oidc: config.adminOidc, console: config.console });
    expect(s.provisioning).toEqual(config.provisioning);
  });

  it('should give each of BROKER_WORKERS workers its share of the per-IP limits, so N workers together let the limit through, not N times it', () => {
    const shares = (limit: number, workers?: number) => {
      const env: Record<string, string> = {
        BROKER_RATE_LIMIT_LOGIN_PER_MINUTE: String(limit),
        BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: String(limit),
      };
      if (workers !== undefined) env.BROKER_WORKERS = String(workers);
      const s = configSlices(load(env));
      return [s.server.rateLimit.loginPerMinute, s.admin.failuresPerMinute];
    };
    expect(shares(600)).toEqual([600, 600]);
    expect(shares(600, 1)).toEqual([600, 600]);
    expect(shares(600, 2)).toEqual([300, 300]);
    expect(shares(20, 3)).toEqual([6, 6]);
    expect(shares(2, 4)).toEqual([1, 1]);
    expect(shares(0, 4)).toEqual([0, 0]);
    // The view BrokerConfigModule binds to adminConfig.KEY, which AdminGuard and ScimAuthGuard inject.
    const two = load({ BROKER_WORKERS: '2', BROKER_RATE_LIMIT_ADMIN_FAILURES_PER_MINUTE: '10' });
    expect(adminConfig.view(two).failuresPerMinute).toBe(5);
  });

  it('should not produce a value from the module-level slice on its own (only forRoot binds one)', () => {
    for (const slice of [serverConfig, databaseConfig, oidcConfig, portalConfig, auditConfig, adminConfig]) {
      expect(() => slice()).toThrow(/bound by BrokerConfigModule\.forRoot\(config\)/);
    }
    expect(provisioningConfig.KEY).toBe('CONFIGURATION(provisioning)');
  });

  it("should skip TLS checks towards the portal only with HttpServerOptions' flag while serving HTTPS, as TIB's Tyk API client does", () => {
    const portalSkips = (env: Record<string, string>) => configSlices(load(env)).portal.sslInsecureSkipVerify;
    const dir = mkdtempSync(path.join(tmpdir(), 'slices-tls-'));
    writeFileSync(path.join(dir, 'c.pem'), '-----BEGIN CERTIFICATE-----\n');
    writeFileSync(path.join(dir, 'k.pem'), '-----BEGIN PRIVATE KEY-----\n');
    const tls = {
      TYK_IB_HTTPSERVEROPTIONS_CERTFILE: path.join(dir, 'c.pem'),
      TYK_IB_HTTPSERVEROPTIONS_KEYFILE: path.join(dir, 'k.pem'),
    };
    expect(portalSkips({ TYK_IB_SSLINSECURESKIPVERIFY: 'true' })).toBe(false);
    expect(portalSkips({ TYK_IB_HTTPSERVEROPTIONS_SSLINSECURESKIPVERIFY: 'true' })).toBe(false);
    expect(
      portalSkips({
        ...tls,
        TYK_IB_HTTPSERVEROPTIONS_USESSL: 'true',
        TYK_IB_HTTPSERVEROPTIONS_SSLINSECURESKIPVERIFY: 'true',
      }),
    ).toBe(true);
  });
});
