import { loadAuditStreamConfig } from './audit-stream-config.js';
import { loadBrokerConfig, secretValues } from './broker-config.js';

const SECRET = 'a-stream-secret-of-32-characters!';

describe('BROKER_AUDIT_STREAM_* configuration', () => {
  it('should be disabled with defaults when no URL is set', () => {
    expect(loadAuditStreamConfig({})).toEqual({
      config: {
        url: '',
        format: 'ocsf',
        secret: '',
        previousSecret: '',
        batchSize: 500,
        intervalMs: 1000,
        timeoutMs: 10_000,
        maxBackoffMs: 60_000,
        extraCaFile: '',
      },
      problems: [],
    });
  });

  it.each([
    ['https://siem.example.com/ingest', true],
    ['http://127.0.0.1:9000/ingest', true],
    ['http://localhost:9000/ingest', true],
    ['http://[::1]:9000/ingest', true],
    ['http://siem.example.com/ingest', false],
    ['ftp://siem.example.com/', false],
    ['not a url', false],
  ])('should accept %s: %s (https, or plain http only to loopback)', (url, ok) => {
    const { problems } = loadAuditStreamConfig({ BROKER_AUDIT_STREAM_URL: url, BROKER_AUDIT_STREAM_SECRET: SECRET });
    expect(problems.length === 0).toBe(ok);
    if (!ok) expect(problems[0]).toMatch(/^BROKER_AUDIT_STREAM_URL: expected an https URL/);
  });

  it('should require a signing secret of 16+ characters with a URL, and never print it', () => {
    const { problems } = loadAuditStreamConfig({
      BROKER_AUDIT_STREAM_URL: 'https://siem.example.com/',
      BROKER_AUDIT_STREAM_SECRET: 'short-value',
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^BROKER_AUDIT_STREAM_SECRET: expected at least 16 characters/);
    expect(problems[0]).not.toContain('short-value');
  });

  it('should take the secret before a rotation, refusing a short one or the current one without printing either', () => {
    const base = { BROKER_AUDIT_STREAM_URL: 'https://siem.example.com/', BROKER_AUDIT_STREAM_SECRET: SECRET };
    const previous = 'the-secret-before-rotation-0042';
    const ok = loadAuditStreamConfig({ ...base, BROKER_AUDIT_STREAM_SECRET_PREVIOUS: previous });
    expect(ok.problems).toEqual([]);
    expect(ok.config.previousSecret).toBe(previous);
    expect(loadAuditStreamConfig(base).config.previousSecret).toBe('');
    const short = loadAuditStreamConfig({ ...base, BROKER_AUDIT_STREAM_SECRET_PREVIOUS: 'short-old' }).problems;
    expect(short).toHaveLength(1);
    expect(short[0]).toMatch(/^BROKER_AUDIT_STREAM_SECRET_PREVIOUS: expected at least 16 characters/);
    expect(short[0]).not.toContain('short-old');
    const same = loadAuditStreamConfig({ ...base, BROKER_AUDIT_STREAM_SECRET_PREVIOUS: SECRET }).problems;
    expect(same).toHaveLength(1);
    expect(same[0]).toMatch(/^BROKER_AUDIT_STREAM_SECRET_PREVIOUS: is the same as BROKER_AUDIT_STREAM_SECRET/);
    expect(same[0]).not.toContain(SECRET);
  });

  it('should refuse credentials in the URL, an unknown format and out-of-range numbers, naming each variable', () => {
    const { problems } = loadAuditStreamConfig({
      BROKER_AUDIT_STREAM_URL: 'https://user:pw@siem.example.com/',
      BROKER_AUDIT_STREAM_SECRET: SECRET,
      BROKER_AUDIT_STREAM_FORMAT: 'cef',
      BROKER_AUDIT_STREAM_BATCH_SIZE: '0',
      BROKER_AUDIT_STREAM_TIMEOUT_MS: 'soon',
    });
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'BROKER_AUDIT_STREAM_URL',
      'BROKER_AUDIT_STREAM_FORMAT',
      'BROKER_AUDIT_STREAM_BATCH_SIZE',
      'BROKER_AUDIT_STREAM_TIMEOUT_MS',
    ]);
  });

  it('should be part of the broker configuration: its problems stop the start, its secret is scrubbed from logs', () => {
    expect(() =>
      loadBrokerConfig({ env: { BROKER_AUDIT_STREAM_URL: 'http://siem.example.com/' }, cwd: '/tmp' }),
    ).toThrow(/BROKER_AUDIT_STREAM_URL: expected an https URL/);
    const { config } = loadBrokerConfig({
      env: {
        BROKER_AUDIT_STREAM_URL: 'https://siem.example.com/',
        BROKER_AUDIT_STREAM_SECRET: SECRET,
        BROKER_AUDIT_STREAM_SECRET_PREVIOUS: 'the-secret-before-rotation-0042',
      },
      cwd: '/tmp',
    });
    expect(config.auditStream).toMatchObject({ url: 'https://siem.example.com/', format: 'ocsf' });
    expect(secretValues(config)).toContain(SECRET);
    expect(secretValues(config)).toContain('the-secret-before-rotation-0042');
  });
});
