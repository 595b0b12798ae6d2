import { jest } from '@jest/globals';
import { DevelopersService } from '@app/developers';
import { TykPortalClient } from '@app/tyk-portal';
import { Module, type INestApplication } from '@nestjs/common';
import { MIGRATIONS } from '@app/database';
import { DataSource } from 'typeorm';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { DeprovisioningWorker } from './deprovisioning.worker.js';
import { InactivityJob } from './inactivity.job.js';
import { ProvisioningModule } from './provisioning.module.js';
import type { TokenRevoker } from './token-revoker.js';

/**
 * The inactivity policy against the developers it reads (real Postgres): an unblock counts as
 * activity, the block re-checks the developer as it writes (a login or an admin's block between
 * the list and the block wins), and the block, `developer.deactivated_inactive` and the outbox
 * row commit together, and only when the status changed.
 */
const ISSUER = 'https://idp.example/tenant';

/** The outbox worker is stopped in these tests; nothing reaches a portal. */
@Module({ providers: [{ provide: TykPortalClient, useValue: {} }], exports: [TykPortalClient] })
class NoPortalModule {}

class NoRevoker implements TokenRevoker {
  revokeFor(): Promise<void> {
    return Promise.resolve();
  }
  revokeSealed(): Promise<void> {
    return Promise.resolve();
  }
}

describe('inactivity policy (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let developers: DevelopersService;
  let job: InactivityJob;
  let ds: DataSource;
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase('inactive');
    app = await createLibApp(db, ProvisioningModule.forRoot({ imports: [NoPortalModule], tokenRevoker: NoRevoker }), {
      BROKER_DEPROVISION_INACTIVE_DAYS: '30',
    });
    await app.init();
    await app.get(DeprovisioningWorker).onApplicationShutdown();
    developers = app.get(DevelopersService);
    job = app.get(InactivityJob);
    ds = app.get(DataSource);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  afterEach(() => jest.restoreAllMocks());

  /** A developer created and last signed in `daysAgo` days ago. */
  async function seed(daysAgo: number): Promise<{ id: string; subject: string }> {
    const subject = `sub-${++seq}`;
    const rows = await ds.query<{ id: string }[]>(
      `INSERT INTO developers (issuer, subject, email, email_verified, first_login_at, last_login_at, created_at, login_count)
       VALUES ($1, $2::text, $2::text || '@example.com', true,
               now() - make_interval(days => $3), now() - make_interval(days => $3), now() - make_interval(days => $3), 1)
       RETURNING id::text`,
      [ISSUER, subject, daysAgo],
    );
    return { id: rows[0].id, subject };
  }

  const statusOf = async (id: string) => (await developers.get(id)).status;

  async function events(id: string): Promise<{ type: string; actor: string }[]> {
    return await ds.query<{ type: string; actor: string }[]>(
      `SELECT type, actor FROM audit_events WHERE developer_id = $1 ORDER BY id`,
      [id],
    );
  }

  async function outbox(id: string): Promise<{ action: string; actor: string; version: number }[]> {
    return await ds.query<{ action: string; actor: string; version: number }[]>(
      `SELECT action, actor, version FROM deprovisioning_outbox WHERE developer_id = $1`,
      [id],
    );
  }

  /** Runs `between` after the job has read its candidates and before it blocks any of them. */
  function betweenListAndBlock(between: () => Promise<unknown>): void {
    const list = developers.listInactive.bind(developers);
    jest.spyOn(developers, 'listInactive').mockImplementation(async (days, limit) => {
      const candidates = await list(days, limit);
      await between();
      return candidates;
    });
  }

  it("should not undo an admin's unblock of a long-inactive developer at the next round", async () => {
    const { id } = await seed(60);
    expect((await job.run()).deactivated).toContain(id);
    expect(await statusOf(id)).toBe('blocked');
    // Its origin, so that a SCIM client never lifts the policy's block.
    const [{ blocked_by }] = await ds.query<{ blocked_by: string }[]>(
      `SELECT blocked_by FROM developers WHERE id = $1`,
      [id],
    );
    expect(blocked_by).toBe('inactivity');

    await developers.unblock(id, 'admin:alice');
    expect((await job.candidates()).map((d) => d.id)).not.toContain(id);
    const next = await job.run();
    expect(next.ran).toBe(true);
    expect(next.deactivated).not.toContain(id);
    expect(await statusOf(id)).toBe('active');
    expect((await events(id)).filter((e) => e.type === 'developer.deactivated_inactive')).toHaveLength(1);

    // The unblock counts as activity, not as an exemption: 30 days after it, the policy applies again.
    await ds.query(`UPDATE developers SET unblocked_at = now() - interval '31 days' WHERE id = $1`, [id]);
    expect((await job.run()).deactivated).toContain(id);
    expect(await statusOf(id)).toBe('blocked');
  });

  it('should not block a developer who signs in between the list and the block, nor audit or enqueue anything', async () => {
    const { id, subject } = await seed(45);
    const other = await seed(45);
    betweenListAndBlock(() =>
      developers.recordLogin({
        issuer: ISSUER,
        subject,
        email: `${subject}@example.com`,
        emailVerified: true,
        name: null,
        organisationId: null,
        organisationName: null,
        ssoKey: null,
      }),
    );
    const { deactivated } = await job.run();
    expect(deactivated).toContain(other.id);
    expect(deactivated).not.toContain(id);
    expect(await statusOf(id)).toBe('active');
    expect(await events(id)).toEqual([]);
    expect(await outbox(id)).toEqual([]);
    // The other candidate, still inactive, is blocked, audited and enqueued as before.
    expect(await statusOf(other.id)).toBe('blocked');
    expect((await events(other.id)).map((e) => e.type)).toEqual([
      'developer.blocked',
      'developer.deactivated_inactive',
    ]);
    expect(await outbox(other.id)).toEqual([{ action: 'deactivate', actor: 'system:inactivity', version: 1 }]);
  });

  it('should not audit developer.deactivated_inactive for a developer an admin blocked meanwhile', async () => {
    const { id } = await seed(45);
    betweenListAndBlock(() => developers.block(id, 'admin:bob'));
    const { deactivated } = await job.run();
    expect(deactivated).not.toContain(id);
    expect(await statusOf(id)).toBe('blocked');
    expect(await events(id)).toEqual([{ type: 'developer.blocked', actor: 'admin:bob' }]);
    expect(await outbox(id)).toEqual([{ action: 'deactivate', actor: 'admin:bob', version: 1 }]);
  });

  it('should block a developer and audit the policy in one transaction: when the audit fails, nothing is kept', async () => {
    const { id } = await seed(45);
    await asSuperuser(db, async (c) => {
      await c.query(`CREATE OR REPLACE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure on %', NEW.type; END $$`);
      await c.query(`CREATE TRIGGER test_fail BEFORE INSERT ON audit_events FOR EACH ROW
        WHEN (NEW.type = 'developer.deactivated_inactive') EXECUTE FUNCTION test_fail()`);
    });
    try {
      await expect(job.run()).rejects.toThrow('injected failure');
    } finally {
      await asSuperuser(db, (c) => c.query('DROP TRIGGER test_fail ON audit_events'));
    }
    expect(await statusOf(id)).toBe('active');
    expect(await events(id)).toEqual([]);
    expect(await outbox(id)).toEqual([]);
    // The next round does it whole.
    expect((await job.run()).deactivated).toContain(id);
    expect((await events(id)).map((e) => e.type)).toEqual(['developer.blocked', 'developer.deactivated_inactive']);
  });

  it('should fill unblocked_at on upgrade from the latest developer.unblocked event of each active developer', async () => {
    const migration = new (MIGRATIONS.find((m) => m.name === 'DevelopersUnblockedAt1797000017300')!)();
    const unblocked = (await seed(90)).id;
    const reblocked = (await seed(90)).id;
    const never = (await seed(90)).id;
    for (const id of [unblocked, reblocked]) {
      await developers.block(id, 'admin:carol');
      await developers.unblock(id, 'admin:carol');
      await developers.unblock(id, 'admin:carol');
    }
    await developers.block(reblocked, 'admin:carol');
    const owner = await new DataSource({ type: 'postgres', url: db.migrationUrl }).initialize();
    const runner = owner.createQueryRunner();
    try {
      await migration.down(runner);
      await migration.up(runner);
    } finally {
      await runner.release();
      await owner.destroy();
    }
    const rows = await ds.query<{ id: string; unblocked_at: Date | null; event_at: Date | null }[]>(
      `SELECT d.id::text AS id, d.unblocked_at,
              (SELECT max(occurred_at) FROM audit_events a
                WHERE a.developer_id = d.id AND a.type = 'developer.unblocked') AS event_at
         FROM developers d WHERE d.id = ANY($1::uuid[])`,
      [[unblocked, reblocked, never]],
    );
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(byId[unblocked].unblocked_at).toEqual(byId[unblocked].event_at);
    expect(byId[unblocked].unblocked_at).not.toBeNull();
    expect(byId[reblocked].unblocked_at).toBeNull();
    expect(byId[never].unblocked_at).toBeNull();
    // So the upgrade keeps the unblock: the policy leaves the developer alone.
    expect((await job.run()).deactivated).toEqual([never]);
  });
});
