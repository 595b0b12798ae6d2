import { runBroker } from '@test/support/built.js';

describe('the built entry with a bad configuration', () => {
  it('should exit 1 naming every bad variable', async () => {
    const res = await runBroker([], {
      TYK_IB_PORT: 'abc',
      TYK_LOGLEVEL: 'chatty',
      DATABASE_URL: 'postgres://x@127.0.0.1:1/none',
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/TYK_IB_PORT: expected a whole number from 0 to 65535, got "abc"/);
    expect(res.stderr).toMatch(/TYK_LOGLEVEL: expected one of debug, info, warn, error, got "chatty"/);
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('should exit 1 naming the tib.conf file that does not exist', async () => {
    const res = await runBroker(['--conf', '/nonexistent/tib.conf'], {});
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/\/nonexistent\/tib.conf: config file not found/);
  });

  it('should print the configuration with secrets masked on `config check`', async () => {
    const res = await runBroker(['config', 'check', '-c', 'test/fixtures/tib/tib.conf'], {
      TYK_IB_SECRET: 'super-secret-value',
      DATABASE_URL: 'postgres://broker:db-password-123@db:5432/broker',
    });
    expect(res.code).toBe(0);
    const printed = JSON.parse(res.stdout.slice(res.stdout.indexOf('{'))) as {
      secret: string;
      port: number;
      database: { url: string };
    };
    expect(printed.port).toBe(3010);
    expect(printed.secret).toBe('********');
    expect(printed.database.url).toBe('postgres://broker:********@db:5432/broker');
    expect(res.stdout).not.toContain('super-secret-value');
    expect(res.stdout).not.toContain('db-password-123');
    expect(res.stdout).not.toContain('your-portal-api-secret');
  });

  it('should stop a NODE_ENV=production start on a placeholder or short secret, saying how to generate one', async () => {
    const res = await runBroker([], {
      NODE_ENV: 'production',
      TYK_IB_SECRET: 'change-me-admin-secret',
      TYK_PORTAL_ADMIN_TOKEN: 'short-token',
      DATABASE_URL: 'postgres://x@127.0.0.1:1/none',
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/TYK_IB_SECRET \(Secret\) is a placeholder.*openssl rand -base64 32/);
    expect(res.stderr).toMatch(/TYK_PORTAL_ADMIN_TOKEN is shorter than 16 characters.*openssl rand -base64 32/);
    expect(res.stderr).not.toContain('change-me-admin-secret');
    expect(res.stderr).not.toContain('short-token');
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  it('should stop any start on a TYK_IB_SESSION_SECRET under 16 characters', async () => {
    const res = await runBroker([], {
      TYK_IB_SESSION_SECRET: 'too-short',
      DATABASE_URL: 'postgres://x@127.0.0.1:1/none',
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/TYK_IB_SESSION_SECRET: expected at least 16 characters, got 9/);
  });

  it('should only warn outside production: once about weak secrets, once about a missing session secret', async () => {
    const res = await runBroker(['config', 'check'], {
      TYK_IB_SECRET: 'change-me-admin-secret',
      TYK_IB_OMITCONFIGFILE: 'true',
    });
    expect(res.code).toBe(0);
    const warnings = res.stdout.split('\n').filter((l) => l.startsWith('warning: '));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/TYK_IB_SESSION_SECRET is not set: a random key .* restart .* instances/);
    expect(warnings[1]).toMatch(/TYK_IB_SECRET \(Secret\) is a placeholder/);
  });
});
