import { ConfigError, loadBrokerConfig } from './broker-config.js';

const ENTRA = 'entra-scim-token-0123456789abcdefghijklmnop';
const OKTA = 'okta-scim-token-0123456789abcdefghijklmnopq';
const TOKENS = `entra:${ENTRA},okta:${OKTA}`;

function load(env: Record<string, string>) {
  return loadBrokerConfig({ env, argv: [] }).config.provisioning;
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadBrokerConfig({ env, argv: [] });
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('BROKER_SCIM_ISSUERS', () => {
  it('should leave every SCIM client unscoped when not set', () => {
    expect(load({ BROKER_SCIM_TOKENS: TOKENS }).scimIssuers).toEqual({});
  });

  it('should scope the clients it names to their issuer', () => {
    const config = load({
      BROKER_SCIM_TOKENS: TOKENS,
      BROKER_SCIM_ISSUERS: ' okta = https://acme.okta.com , entra=https://login.microsoftonline.com/t1/v2.0',
    });
    expect(config.scimIssuers).toEqual({
      okta: 'https://acme.okta.com',
      entra: 'https://login.microsoftonline.com/t1/v2.0',
    });
  });

  it('should stop start-up on a label that is not a SCIM token', () => {
    const problems = problemsOf({ BROKER_SCIM_TOKENS: TOKENS, BROKER_SCIM_ISSUERS: 'cloud=https://idp.example' });
    expect(problems).toEqual(['BROKER_SCIM_ISSUERS: pair 1: the label cloud is not one of BROKER_SCIM_TOKENS']);
  });

  it('should stop start-up on an issuer that is not an http(s) URL', () => {
    for (const issuer of ['acme.okta.com', 'ftp://acme.okta.com', '']) {
      const problems = problemsOf({ BROKER_SCIM_TOKENS: TOKENS, BROKER_SCIM_ISSUERS: `okta=${issuer}` });
      expect(problems).toEqual([
        `BROKER_SCIM_ISSUERS: pair 1: the issuer of okta must be an http(s) URL (the IdP's iss), got ${JSON.stringify(issuer)}`,
      ]);
    }
  });

  it('should stop start-up on an issuer Postgres cannot hold, and echo a megabyte one clipped', () => {
    expect(
      problemsOf({ BROKER_SCIM_TOKENS: TOKENS, BROKER_SCIM_ISSUERS: 'okta=https://acme.okta.com/a\u0000b' }),
    ).toEqual(['BROKER_SCIM_ISSUERS: pair 1: the issuer of okta must not contain a NUL character (U+0000)']);
    expect(
      problemsOf({ BROKER_SCIM_TOKENS: TOKENS, BROKER_SCIM_ISSUERS: 'okta=https://acme.okta.com/\ud800' }),
    ).toEqual(['BROKER_SCIM_ISSUERS: pair 1: the issuer of okta must not contain an unpaired UTF-16 surrogate']);
    const huge = problemsOf({ BROKER_SCIM_TOKENS: TOKENS, BROKER_SCIM_ISSUERS: `okta=${'x'.repeat(1024 * 1024)}` });
    expect(huge).toHaveLength(1);
    expect(huge[0].length).toBeLessThan(400);
    const hugeLabel = problemsOf({ BROKER_SCIM_TOKENS: TOKENS, BROKER_SCIM_ISSUERS: `${'l'.repeat(1024 * 1024)}=x` });
    expect(hugeLabel[0].length).toBeLessThan(400);
  });

  it('should stop start-up on a pair without = or a label given twice', () => {
    expect(problemsOf({ BROKER_SCIM_TOKENS: TOKENS, BROKER_SCIM_ISSUERS: 'https://acme.okta.com' })).toEqual([
      "BROKER_SCIM_ISSUERS: pair 1: expected label=issuer (a label of BROKER_SCIM_TOKENS, then the IdP's issuer URL)",
    ]);
    expect(
      problemsOf({
        BROKER_SCIM_TOKENS: TOKENS,
        BROKER_SCIM_ISSUERS: 'okta=https://acme.okta.com,okta=https://other.okta.com',
      }),
    ).toEqual(['BROKER_SCIM_ISSUERS: pair 2: the label okta is used twice']);
  });

  it('should refuse issuers when SCIM is off', () => {
    expect(problemsOf({ BROKER_SCIM_ISSUERS: 'okta=https://acme.okta.com' })).toEqual([
      'BROKER_SCIM_ISSUERS: pair 1: the label okta is not one of BROKER_SCIM_TOKENS',
    ]);
  });
});
