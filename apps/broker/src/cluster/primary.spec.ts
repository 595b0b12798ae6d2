import { Writable } from 'node:stream';
import { loadBrokerConfig } from '@app/config';
import { primaryLogger } from './primary.js';

/** The cluster primary writes its own lines (BROKER_WORKERS > 1): they mask secrets as the workers' do. */
describe('primaryLogger', () => {
  const SESSION_SECRET = 'primary-session-secret-0123456789';
  const PORTAL_TOKEN = 'portal-admin-token-abcdef';

  function capture() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return { lines, stream };
  }

  it('should mask every configured secret value in a message, a field and an error, and keep role: primary', () => {
    const { config } = loadBrokerConfig({
      env: { TYK_IB_SESSION_SECRET: SESSION_SECRET, TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN },
      argv: [],
    });
    const { lines, stream } = capture();
    const log = primaryLogger(config, stream);
    log.error(
      { worker: 2, err: new Error(`worker crashed: connect to portal with ${PORTAL_TOKEN} failed`) },
      `worker 2 exited unexpectedly (its environment had TYK_IB_SESSION_SECRET=${SESSION_SECRET})`,
    );
    log.warn({ url: `postgres://owner:${PORTAL_TOKEN}@db/broker` }, 'migration failed');
    const text = lines.join('');
    expect(lines).toHaveLength(2);
    expect(text).not.toContain(SESSION_SECRET);
    expect(text).not.toContain(PORTAL_TOKEN);
    expect(text.match(/\*{8}/g)?.length).toBeGreaterThanOrEqual(4);
    expect(JSON.parse(lines[0])).toMatchObject({ role: 'primary', worker: 2, msg: expect.stringContaining('exited') });
  });
});
