import { freePort } from '@app/database';
import pg from 'pg';
import { startTestBroker, testConfig, type TestBroker } from '@test/support/broker.js';
import { createTestDatabase, type TestDatabase } from '@test/support/database.js';

/**
 * Page cursors (issue 13, finding 10): a cursor the broker did not make is a 400 `cursor_invalid`
 * on every paged list, never a 500, and a real one works on every instance sharing
 * TYK_IB_SESSION_SECRET (cursors are signed with a key derived from it).
 */

const ADMIN_SECRET = 'cursors-admin-secret-5521';
const SESSION_SECRET = 'cursors-session-secret-7730';
const headers = { Authorization: ADMIN_SECRET };

/** The cursor's payload as a client can read it, changed, and put back without a valid MAC. */
function tamper(cursor: string, change: (position: Record<string, string>) => void, mac = ''): string {
  const [payload] = cursor.split('.');
  const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { p: Record<string, string> };
  change(decoded.p);
  return Buffer.from(JSON.stringify(decoded)).toString('base64url') + mac;
}

describe('page cursors (real broker)', () => {
  let db: TestDatabase;
  let a: TestBroker;
  let b: TestBroker;
  let other: TestBroker;
  let developerId: string;

  const boot = async (sessionSecret: string) =>
    startTestBroker(
      testConfig({ DATABASE_URL: db.url, TYK_IB_SECRET: ADMIN_SECRET, TYK_IB_SESSION_SECRET: sessionSecret }),
      await freePort(),
    );

  async function get(broker: TestBroker, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${broker.url}${path}`, { headers });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function firstCursor(path: string): Promise<string> {
    const page = await get(a, path);
    expect(page.status).toBe(200);
    expect(typeof page.body.next_cursor).toBe('string');
    return page.body.next_cursor as string;
  }

  beforeAll(async () => {
    db = await createTestDatabase('cursors');
    a = await boot(SESSION_SECRET);
    b = await boot(SESSION_SECRET);
    other = await boot('another-session-secret-1188');
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const { rows } = await sql.query<{ id: string }>(
      `INSERT INTO developers (issuer, subject) VALUES ('https://idp.example', 's1'), ('https://idp.example', 's2')
       RETURNING id::text AS id`,
    );
    developerId = rows[0].id;
    for (let i = 0; i < 3; i++) {
      await sql.query(
        `INSERT INTO audit_events (type, outcome, actor, developer_id) VALUES ('login.succeeded', 'success', 'x', $1)`,
        [developerId],
      );
    }
    await sql.end();
  });

  afterAll(async () => {
    for (const broker of [a, b, other]) await broker?.close();
    await db?.drop();
  });

  const lists = [
    ['/api/audit/events?limit=1', (p: Record<string, string>) => (p.id = '99999999999999999999')],
    ['/api/developers?limit=1', (p: Record<string, string>) => (p.c = '1')],
    [`/api/developers/{id}/logins?limit=1`, (p: Record<string, string>) => (p.id = '9223372036854775808')],
  ] as const;

  it.each(lists)('should answer 400 cursor_invalid for a hand-made cursor on %s', async (list, change) => {
    const path = list.replace('{id}', developerId);
    const cursor = await firstCursor(path);
    for (const forged of [
      tamper(cursor, change),
      tamper(cursor, change, `.${cursor.split('.')[1] ?? 'AAAAAAAAAAAAAAAAAAAAAA'}`),
      'not-a-cursor!',
    ]) {
      const res = await get(a, `${path}&cursor=${encodeURIComponent(forged)}`);
      expect(res.status).toBe(400);
      expect((res.body.error as { code: string }).code).toBe('cursor_invalid');
    }
  });

  it.each(lists)(
    'should accept a cursor of %s on another instance with the same secret, and refuse it under another',
    async (list) => {
      const path = list.replace('{id}', developerId);
      const cursor = await firstCursor(path);
      expect((await get(b, `${path}&cursor=${cursor}`)).status).toBe(200);
      const refused = await get(other, `${path}&cursor=${cursor}`);
      expect(refused.status).toBe(400);
      expect((refused.body.error as { code: string }).code).toBe('cursor_invalid');
    },
  );
});
