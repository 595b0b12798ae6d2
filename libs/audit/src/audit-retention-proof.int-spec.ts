import { createWriteStream, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { generateKeyPair, exportJWK } from 'jose';
import { compromiseDatabase, createTestDatabase, type TestDatabase } from '@test/support/database.js';
import { startAuditApp, recordLogins, type AuditApp } from '@test/support/audit-app.js';
import { verifyExportFiles } from './audit-offline-verify.js';
import { RETENTION_JWS_TYPE } from './audit-retention-proof.js';
import { signAuditJws, type AuditCheckpoint } from './audit-verifier.js';

/**
 * Finding 1 of the session-13 audit review: the database owner deleted a recent prefix of the
 * chain, inserted a matching anchor, and anyone inserted an `audit.retention_applied` naming it;
 * verify answered `intact`. An anchor is now explained only by a retention proof the broker signed.
 */
async function exportFiles(a: AuditApp, name: string) {
  const checkpoints: AuditCheckpoint[] = [];
  let cursor: string | undefined;
  do {
    const page = await a.audit.checkpoints({ limit: '50', cursor });
    checkpoints.push(...page.data);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  const keysFile = path.join(a.dir, `${name}-keys.json`);
  const checkpointsFile = path.join(a.dir, `${name}-checkpoints.json`);
  const exportFile = path.join(a.dir, `${name}-export.ndjson`);
  writeFileSync(keysFile, JSON.stringify(await a.audit.signingKeys()));
  writeFileSync(checkpointsFile, JSON.stringify(checkpoints));
  await pipeline(await a.audit.exportEvents({}, 'ndjson'), createWriteStream(exportFile));
  return { exportFile, keysFile, checkpointsFile };
}

/** Old events, as the superuser writes them (the runtime role cannot set occurred_at). */
async function seedOld(db: TestDatabase, n: number): Promise<void> {
  await compromiseDatabase(
    db,
    `INSERT INTO audit_events (occurred_at, type, outcome, reason)
     SELECT now() - interval '60 days' + g * interval '1 second', 'login.failed', 'failure', 'old'
       FROM generate_series(1, ${n}) g`,
  );
}

describe('audit retention proofs (real Postgres)', () => {
  let db: TestDatabase;
  let a: AuditApp;

  beforeAll(async () => {
    db = await createTestDatabase('retproof');
    a = await startAuditApp(db, {
      env: { DATABASE_MIGRATION_URL: db.migrationUrl, BROKER_AUDIT_RETENTION_DAYS: '30' },
    });
  });

  afterAll(async () => {
    await a?.app.close();
    await db?.drop();
  });

  it('should sign the retention it applies, and verify it as intact online and offline', async () => {
    await seedOld(db, 20);
    await recordLogins(a.audit, 10);
    expect((await a.audit.applyRetention()).removed).toBe(20);
    await a.audit.checkpointNow();
    const proofs = await a.ds.query(`SELECT details FROM audit_events WHERE type = 'audit.retention_signed'`);
    expect(proofs).toHaveLength(1);
    expect(proofs[0].details).toMatchObject({ anchor_first_seq: '21', retention_days: 30, removed: '20' });
    expect(typeof proofs[0].details.proof).toBe('string');
    expect(await a.audit.verify()).toMatchObject({ status: 'intact' });
    expect(await verifyExportFiles(await exportFiles(a, 'genuine'))).toMatchObject({ status: 'intact' });
  });

  it('should not take a recent prefix deleted by the owner, with a matching anchor and retention event, for retention', async () => {
    await recordLogins(a.audit, 10, 100);
    const [first] = await a.ds.query(
      `SELECT seq::text AS seq FROM audit_events WHERE seq IS NOT NULL ORDER BY seq LIMIT 1`,
    );
    const cut = String(Number(first.seq) + 5);
    const [h] = await a.ds.query(`SELECT hash, id::text AS id FROM audit_events WHERE seq = $1`, [cut]);
    const next = String(Number(cut) + 1);
    // A signed-looking proof too, with a key of the attacker's own published in audit_signing_keys.
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'attacker', alg: 'EdDSA' };
    await a.ds.query(`INSERT INTO audit_signing_keys (kid, jwk) VALUES ('attacker', $1)`, [JSON.stringify(jwk)]);
    const now = Date.now();
    const forged = await signAuditJws(
      {
        v: 1,
        anchor_first_seq: next,
        anchor_prev_hash: h.hash,
        cutoff: new Date(now - 31 * 86_400_000).toISOString(),
        retention_days: 30,
        removed: '6',
        time: new Date(now).toISOString(),
        nonce: 'n',
        kid: 'attacker',
      },
      { alg: 'EdDSA', kid: 'attacker', privateKey },
      RETENTION_JWS_TYPE,
    );
    await compromiseDatabase(
      db,
      `DELETE FROM audit_events WHERE seq <= ${cut}`,
      `INSERT INTO audit_chain_anchors (first_seq, prev_hash, removed_count, last_removed_id, cutoff)
       VALUES (${next}, '${h.hash}', 6, ${h.id}, now() - interval '31 days')`,
    );
    // The runtime role writes the explanations.
    for (const [type, details] of [
      ['audit.retention_applied', { anchor_first_seq: next, anchor_prev_hash: h.hash }],
      ['audit.retention_signed', { anchor_first_seq: next, anchor_prev_hash: h.hash, proof: forged }],
    ] as const) {
      await a.ds.query(
        `INSERT INTO audit_events (type, outcome, actor, target, details) VALUES ($1, 'success', 'system', 'audit_events', $2::jsonb)`,
        [type, JSON.stringify(details)],
      );
    }
    await a.audit.checkpointNow();
    const online = await a.audit.verify();
    expect(online).toMatchObject({ status: 'broken', firstBadSeq: next, problem: 'anchor_unproven' });
    const offline = await verifyExportFiles(await exportFiles(a, 'attack'));
    expect(offline).toMatchObject({ status: 'broken', firstBadSeq: next, problem: 'anchor_unproven' });
    // Without the retention_applied event there is no explanation at all.
    await compromiseDatabase(db, `DELETE FROM audit_events WHERE type = 'audit.retention_applied' AND seq > ${next}`);
    expect(await a.audit.verify()).toMatchObject({ status: 'broken', problem: 'anchor_unexplained' });
  });
});

describe('audit retention proofs against a replaced retention function (real Postgres)', () => {
  let db: TestDatabase;
  let a: AuditApp;

  beforeAll(async () => {
    db = await createTestDatabase('retproof2');
    a = await startAuditApp(db, {
      env: { DATABASE_MIGRATION_URL: db.migrationUrl, BROKER_AUDIT_RETENTION_DAYS: '30' },
    });
  });

  afterAll(async () => {
    await a?.app.close();
    await db?.drop();
  });

  it('should sign no anchor the owner’s function moved past the events older than the cutoff, and remove nothing', async () => {
    await seedOld(db, 10);
    await recordLogins(a.audit, 10);
    // The owner makes recent events look old (without touching their hashes) before retention runs.
    await compromiseDatabase(
      db,
      `UPDATE audit_events SET occurred_at = now() - interval '40 days' WHERE seq BETWEEN 11 AND 15`,
    );
    await expect(a.audit.applyRetention()).rejects.toThrow(/retention refused: event \d+ \(seq 11\)/);
    const [{ n }] = await a.ds.query(`SELECT count(*)::int AS n FROM audit_events WHERE seq <= 15`);
    expect(n).toBe(15);
    // Or replaces the function so that it removes more than the cutoff allows.
    await compromiseDatabase(
      db,
      `UPDATE audit_events SET occurred_at = now() WHERE seq BETWEEN 11 AND 15`,
      `CREATE OR REPLACE FUNCTION audit_apply_retention(p_cutoff timestamptz, p_limit integer)
       RETURNS TABLE (r_removed bigint, r_first_removed_id bigint, r_last_removed_id bigint, r_last_removed_seq bigint)
       LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
       DECLARE v_hash character(64); v_id bigint;
       BEGIN
         SELECT e.hash, e.id INTO v_hash, v_id FROM audit_events e WHERE e.seq = 15;
         DELETE FROM audit_events e WHERE e.seq <= 15;
         INSERT INTO audit_chain_anchors (first_seq, prev_hash, removed_count, last_removed_id, cutoff)
         VALUES (16, v_hash, 15, v_id, p_cutoff);
         RETURN QUERY SELECT 15::bigint, 1::bigint, v_id, 15::bigint;
       END $$`,
    );
    await expect(a.audit.applyRetention()).rejects.toThrow(/left the anchor at seq 16, not at 11/);
    const [{ m }] = await a.ds.query(`SELECT count(*)::int AS m FROM audit_events WHERE seq <= 15`);
    expect(m).toBe(15);
    expect(await a.ds.query(`SELECT 1 FROM audit_events WHERE type = 'audit.retention_signed'`)).toHaveLength(0);
  });
});

describe('audit retention with signing off (real Postgres)', () => {
  let db: TestDatabase;
  let a: AuditApp;

  beforeAll(async () => {
    db = await createTestDatabase('retproof3');
    a = await startAuditApp(db, {
      env: { DATABASE_MIGRATION_URL: db.migrationUrl, BROKER_AUDIT_RETENTION_DAYS: '30', BROKER_AUDIT_SIGNING: 'off' },
    });
  });

  afterAll(async () => {
    await a?.app.close();
    await db?.drop();
  });

  it('should sign nothing and take the sealed retention_applied event, as good as the database', async () => {
    await seedOld(db, 10);
    await recordLogins(a.audit, 5);
    expect((await a.audit.applyRetention()).removed).toBe(10);
    await a.audit.sealNow();
    expect(await a.ds.query(`SELECT 1 FROM audit_events WHERE type = 'audit.retention_signed'`)).toHaveLength(0);
    expect(await a.audit.verify()).toMatchObject({ status: 'intact' });
  });
});

describe('audit retention on an instance that does not sign but trusts keys (real Postgres)', () => {
  let db: TestDatabase;
  let a: AuditApp;

  beforeAll(async () => {
    db = await createTestDatabase('retproof4');
    const { publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const dir = path.join(process.env.TMPDIR ?? '/tmp', `retproof4-${process.pid}`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const trusted = path.join(dir, 'trusted.json');
    writeFileSync(trusted, JSON.stringify({ keys: [await exportJWK(publicKey)] }));
    a = await startAuditApp(db, {
      env: {
        DATABASE_MIGRATION_URL: db.migrationUrl,
        BROKER_AUDIT_RETENTION_DAYS: '30',
        BROKER_AUDIT_SIGNING: 'off',
        BROKER_AUDIT_TRUSTED_KEYS_FILE: trusted,
      },
    });
  });

  afterAll(async () => {
    await a?.app.close();
    await db?.drop();
  });

  it('should refuse retention rather than leave an anchor verify would call unproven', async () => {
    await seedOld(db, 10);
    await recordLogins(a.audit, 3);
    await expect(a.audit.applyRetention()).rejects.toThrow(/audit retention refused: this instance does not sign/);
    const [{ n }] = await a.ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE reason = 'old'`,
    );
    expect(n).toBe(10);
    expect(await a.ds.query(`SELECT 1 FROM audit_chain_anchors`)).toHaveLength(0);
  });
});
