import { startEmbeddedPostgres, type EmbeddedDatabase } from '@app/database';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';

describe('health (e2e, own Postgres server so it can be stopped)', () => {
  let pgServer: EmbeddedDatabase;
  let broker: TestBroker;

  beforeAll(async () => {
    pgServer = await startEmbeddedPostgres({ dir: path.join(mkdtempSync(path.join(tmpdir(), 'health-pg-')), 'pg') });
    broker = await startTestBroker(testConfig({ DATABASE_URL: pgServer.url, TYK_IB_SECRET: 'health-secret-1234' }));
  });

  afterAll(async () => {
    await broker?.close();
    await pgServer?.stop();
  });

  it('should answer GET /health with 200 and an empty body, as TIB does', async () => {
    const res = await fetch(`${broker.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('should report ready, then 503 while the database is down, then ready again without a restart', async () => {
    expect((await fetch(`${broker.url}/health/ready`)).status).toBe(200);
    await pgServer.stop();
    const down = await fetch(`${broker.url}/health/ready`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBe('unavailable');
    expect((await fetch(`${broker.url}/health/live`)).status).toBe(200);
    await pgServer.start();
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await fetch(`${broker.url}/health/ready`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
  });
});
