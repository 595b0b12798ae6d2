import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditService, verifyExportFiles, type AuditCheckpoint } from '@app/audit';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { asSuperuser, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { createLibApp } from '@test/support/lib-app.js';
import { DevelopersModule } from './developers.module.js';
import { DevelopersService } from './developers.service.js';

/** Issue 14: erasing a developer removes their IP and user agent from the log; the chain still verifies. */
describe('developer erasure and the audit chain (real Postgres)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let audit: AuditService;
  let developers: DevelopersService;
  let dir: string;

  const IP = '198.51.100.77';
  const UA = 'ErasureTestBrowser/1.0';
  const OTHER_IP = '203.0.113.9';

  beforeAll(async () => {
    db = await createTestDatabase('erase');
    dir = mkdtempSync(path.join(tmpdir(), 'audit-erase-'));
    app = await createLibApp(db, DevelopersModule, { BROKER_DATA_DIR: dir, BROKER_AUDIT_CHECKPOINT_EVERY: '3' });
    await app.init();
    audit = app.get(AuditService);
    developers = app.get(DevelopersService);
  });

  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const exportText = async () => {
    const chunks: Buffer[] = [];
    for await (const c of await audit.exportEvents({}, 'ndjson')) chunks.push(Buffer.from(c as Buffer));
    return Buffer.concat(chunks).toString('utf8');
  };

  it('should remove the IP and user agent from the API, the export and the database, and still verify online and offline', async () => {
    const { developer } = await developers.recordLogin({
      issuer: 'https://idp.example',
      subject: 'erase-me',
      email: 'erase@example.com',
      emailVerified: true,
      name: 'Erase Me',
      organisationId: null,
      organisationName: null,
      ssoKey: null,
    });
    for (let i = 0; i < 4; i++) {
      await audit.record({
        type: 'login.succeeded',
        outcome: 'success',
        developerId: developer.id,
        ip: IP,
        userAgent: UA,
        requestId: `erase-${i}`,
      });
    }
    await audit.record({
      type: 'login.failed',
      outcome: 'failure',
      reason: 'state_invalid',
      ip: OTHER_IP,
      userAgent: 'Other/2',
    });
    await audit.checkpointNow();
    expect((await audit.query({ developer: developer.id })).data[0]).toMatchObject({ ip: IP, user_agent: UA });
    expect((await audit.query({ ip: IP })).data).toHaveLength(4);
    expect(await exportText()).toContain(UA);

    await developers.erase(developer.id, 'admin:dpo');
    await audit.checkpointNow();

    const page = await audit.query({ developer: developer.id, limit: '100' });
    expect(page.data.filter((e) => e.type === 'login.succeeded')).toHaveLength(4);
    for (const e of page.data.filter((x) => x.type === 'login.succeeded')) {
      expect(e.ip).toBeNull();
      expect(e.user_agent).toBeNull();
    }
    expect((await audit.query({ ip: IP })).data).toHaveLength(0);
    const text = await exportText();
    expect(text).not.toContain(IP);
    expect(text).not.toContain(UA);
    // Someone else's failed login keeps its address.
    expect(text).toContain(OTHER_IP);
    const leftovers = await asSuperuser(
      db,
      async (c) =>
        (
          await c.query(
            `SELECT count(*)::int AS n FROM audit_events e LEFT JOIN audit_event_personal p ON p.event_id = e.id
            WHERE host(e.ip) = $1 OR host(p.ip) = $1 OR e.user_agent = $2 OR p.user_agent = $2
               OR e::text LIKE '%' || $2 || '%'`,
            [IP, UA],
          )
        ).rows,
    );
    expect(leftovers[0].n).toBe(0);
    // The database's own record of what was deleted, in the chain: the runtime role cannot erase unseen.
    const erasedRecord = page.data.filter((e) => e.type === 'audit.personal_erased');
    expect(erasedRecord).toHaveLength(1);
    expect(erasedRecord[0]).toMatchObject({ actor: 'system', developer_id: developer.id, details: { rows: 4 } });

    expect(await audit.verify()).toMatchObject({ status: 'intact' });
    const checkpoints: AuditCheckpoint[] = (await audit.checkpoints({ limit: '1000' })).data;
    const files = {
      exportFile: path.join(dir, 'export.ndjson'),
      keysFile: path.join(dir, 'keys.json'),
      checkpointsFile: path.join(dir, 'checkpoints.json'),
    };
    writeFileSync(files.keysFile, JSON.stringify(await audit.signingKeys()));
    writeFileSync(files.checkpointsFile, JSON.stringify({ data: checkpoints }));
    writeFileSync(files.exportFile, text);
    expect(readFileSync(files.exportFile, 'utf8')).not.toContain(UA);
    expect(await verifyExportFiles(files)).toMatchObject({ status: 'intact' });
  });

  it('should refuse the runtime role changing or deleting personal rows directly', async () => {
    const ds = app.get(DataSource);
    await expect(ds.query(`DELETE FROM audit_event_personal`)).rejects.toThrow(/permission denied/);
    await expect(ds.query(`UPDATE audit_event_personal SET ip = NULL`)).rejects.toThrow(/permission denied/);
  });

  it('should refuse the runtime role erasing the personal rows of a developer who is not erased', async () => {
    const ds = app.get(DataSource);
    const { developer } = await developers.recordLogin({
      issuer: 'https://idp.example',
      subject: 'kept',
      email: 'kept@example.com',
      emailVerified: true,
      name: 'Kept',
      organisationId: null,
      organisationName: null,
      ssoKey: null,
    });
    await audit.record({
      type: 'login.succeeded',
      outcome: 'success',
      developerId: developer.id,
      ip: IP,
      userAgent: UA,
    });
    await expect(ds.query(`SELECT audit_erase_personal($1::uuid)`, [developer.id])).rejects.toThrow(/is not erased/);
    expect((await audit.query({ developer: developer.id })).data[0]).toMatchObject({ ip: IP, user_agent: UA });
  });

  it("should refuse a personal row the runtime role attaches to another statement's event, sealed or not", async () => {
    const ds = app.get(DataSource);
    const unsealed = await ds.query<{ id: string }[]>(
      `INSERT INTO audit_events (type, outcome) VALUES ('logout', 'success') RETURNING id::text AS id`,
    );
    await audit.sealNow();
    const sealed = unsealed[0].id;
    const [{ id: fresh }] = await ds.query<{ id: string }[]>(
      `INSERT INTO audit_events (type, outcome) VALUES ('logout', 'success') RETURNING id::text AS id`,
    );
    for (const id of [sealed, fresh]) {
      await expect(
        ds.query(`INSERT INTO audit_event_personal (event_id, ip, user_agent) VALUES ($1, '203.0.113.66', 'forged')`, [
          id,
        ]),
      ).rejects.toThrow(/only with its event/);
      // Not even inside one transaction with a later statement.
      await expect(
        ds.transaction(async (m) => {
          await m.query(`INSERT INTO audit_events (type, outcome) VALUES ('logout', 'success')`);
          await m.query(`INSERT INTO audit_event_personal (event_id, ip) VALUES ($1, '203.0.113.66')`, [id]);
        }),
      ).rejects.toThrow(/only with its event/);
    }
    expect((await audit.query({ ip: '203.0.113.66' })).data).toHaveLength(0);
    // The broker's own statement (the event and its row together) works, inside a savepoint too.
    await ds.transaction(async (outer) => {
      await outer.query(`INSERT INTO audit_events (type, outcome) VALUES ('logout', 'success')`);
      await outer.transaction(async (inner) => {
        await audit.record({ type: 'logout', outcome: 'success', ip: '198.51.100.7', userAgent: 'Mine/1' }, inner);
      });
    });
    expect((await audit.query({ ip: '198.51.100.7' })).data).toHaveLength(1);
  });
});
