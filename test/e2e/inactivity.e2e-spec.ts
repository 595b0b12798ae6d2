import { jest } from '@jest/globals';
import { loadBrokerConfig } from '@app/config';
import pg from 'pg';
import { InactivityJob } from '@app/provisioning';
import { runCli } from '../../apps/broker/src/cli.js';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';

/**
 * The inactivity policy (issue 16, item 4) with two broker instances on one database: exactly the
 * developers with no login for BROKER_DEPROVISION_INACTIVE_DAYS are deactivated, once, whichever
 * instance runs; the CLI's --dry-run lists them and changes nothing.
 */
describe('inactivity policy across two instances (e2e)', () => {
  let db: TestDatabase;
  let client: pg.Client;
  let a: TestBroker;
  let b: TestBroker;
  const env = () => ({ DATABASE_URL: db.url, BROKER_DEPROVISION_INACTIVE_DAYS: '30' });

  async function seed(subject: string, lastLogin: string | null, created = 'now()') {
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO developers (issuer, subject, email, email_verified, last_login_at, created_at, login_count)
       VALUES ('https://idp.example', $1::text, $1::text || '@example.com', true, ${lastLogin ? `now() - interval '${lastLogin}'` : 'NULL'}, ${created}, 1)
       RETURNING id::text`,
      [subject],
    );
    return rows[0].id;
  }

  beforeAll(async () => {
    db = await createTestDatabase('inactivity');
    a = await startTestBroker(testConfig(env()));
    b = await startTestBroker(testConfig(env()));
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('should list with --dry-run, then deactivate exactly the inactive developers once', async () => {
    const old = await seed('old', '45 days');
    const never = await seed('never', null, "now() - interval '90 days'");
    const recent = await seed('recent', '3 days');
    const fresh = await seed('fresh', null);
    const blocked = await seed('already-blocked', '60 days');
    await client.query(`UPDATE developers SET status = 'blocked' WHERE id = $1`, [blocked]);

    const out: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      const loaded = loadBrokerConfig({ env: { TYK_IB_PORT: '3010', ...env() }, cwd: '/tmp' });
      code = await runCli(['developers', 'deactivate-inactive', '--dry-run'], loaded);
    } finally {
      write.mockRestore();
    }
    expect(code).toBe(0);
    const listed = out.join('');
    expect(listed).toContain(old);
    expect(listed).toContain(never);
    expect(listed).not.toContain(recent);
    expect(listed).not.toContain(blocked);
    expect(listed).toContain('dry run: 2 developer(s) would be deactivated');
    const statuses = async () =>
      Object.fromEntries(
        (await client.query<{ id: string; status: string }>('SELECT id::text, status FROM developers')).rows.map(
          (r) => [r.id, r.status],
        ),
      );
    expect((await statuses())[old]).toBe('active');

    // Both instances at once, then again: one takes the lock; nobody is deactivated twice.
    const jobs = [a.app.get(InactivityJob), b.app.get(InactivityJob)];
    const first = await Promise.all(jobs.map((j) => j.run()));
    const second = await Promise.all(jobs.map((j) => j.run()));
    const deactivated = [...first, ...second].flatMap((r) => r.deactivated);
    expect(deactivated.sort()).toEqual([old, never].sort());
    expect(first.some((r) => r.ran)).toBe(true);

    expect(await statuses()).toMatchObject({
      [old]: 'blocked',
      [never]: 'blocked',
      [recent]: 'active',
      [fresh]: 'active',
      [blocked]: 'blocked',
    });
    const { rows } = await client.query<{ developer_id: string; actor: string }>(
      `SELECT developer_id::text, actor FROM audit_events WHERE type = 'developer.deactivated_inactive' ORDER BY id`,
    );
    expect(rows.map((r) => r.developer_id).sort()).toEqual([old, never].sort());
    expect(new Set(rows.map((r) => r.actor))).toEqual(new Set(['system:inactivity']));
    const blockedEvents = await client.query(
      `SELECT 1 FROM audit_events WHERE type = 'developer.blocked' AND actor = 'system:inactivity'`,
    );
    expect(blockedEvents.rowCount).toBe(2);
  });
});
