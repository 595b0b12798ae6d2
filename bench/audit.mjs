// The audit part: one million events seeded with set-based SQL, sealed by the broker's own
// sealer, then the audit API's typical queries timed (p50/p95 over repeated runs), the NDJSON
// export rate, and the verification of the whole chain.
// Over 300 lines, one job: the bench's audit phase. Seeding, sealing and the timings share the
// seeded data's shape (developers, id range, days), which is why they stay together.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';
import { agent, getJson } from './http.mjs';
import { latencyStats } from './logins.mjs';
import { sleep } from './stack.mjs';

export const SEED_ISSUER = 'https://seed.bench.example/tenant/developers';
const SEED_DEVELOPERS = 5000;
const SEED_ORGS = 20;
const SEED_CHUNK = 100_000;

/** Deterministic developer id of seeded developer n (1-based). */
export const seedDeveloperId = (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/**
 * Inserts `count` events (and SEED_DEVELOPERS developers they refer to), spread over the last
 * 30 days in id order, over event types, outcomes, reasons, developers, organisations, profiles,
 * addresses and user agents, and seals them into the hash chain, all in one transaction:
 *
 * - it holds the sealer's advisory lock (`broker.audit.sealer`), so the broker's background sealer
 *   skips its ticks meanwhile, exactly as it does for another broker instance;
 * - rows go in unsealed (the audit_events trigger checks every one), then get their one permitted
 *   sealing UPDATE, with seq/prev_id/prev_hash/hash computed by the audit lib's own chainHash
 *   (imported from the build) over the rows as the sealer reads them (RECORD_COLUMNS), continuing
 *   from audit_chain_head, which is moved forward at the end;
 * - the secondary indexes are dropped first and re-created from their own definitions
 *   (pg_indexes.indexdef) before the commit: building them once is minutes faster than updating
 *   them row by row, and the schema ends up exactly as the migration made it.
 *
 * The broker's verify then checks these rows like any others.
 * Returns { seconds, insertSeconds, sealSeconds, indexSeconds, rows, firstId, lastId }.
 */
export async function seedAudit(db, count, log) {
  const { chainHash } = await import(
    new URL('../dist/apps/broker/libs/audit/src/audit-chain.js', import.meta.url).href
  );
  const { RECORD_COLUMNS } = await import(
    new URL('../dist/apps/broker/libs/audit/src/audit-record.js', import.meta.url).href
  );
  const t0 = performance.now();
  await db.query('BEGIN');
  try {
    await db.query(`SELECT pg_advisory_xact_lock(hashtext('broker.audit.sealer'))`);
    // The sealing UPDATE is the owner's alone (issue 14): seed as the audit tables' owner.
    const [{ owner }] = (
      await db.query(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'audit_events'::regclass`)
    ).rows;
    await db.query(`SET LOCAL ROLE "${owner.replace(/"/g, '""')}"`);
    const [{ unsealed }] = (await db.query(`SELECT count(*)::int AS unsealed FROM audit_events WHERE hash IS NULL`))
      .rows;
    if (unsealed > 0) throw new Error(`${unsealed} events are not sealed yet; the seeding must start on a sealed log`);
    await db.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    const { rows: indexes } = await db.query(
      `SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename = 'audit_events'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    );
    for (const ix of indexes) await db.query(`DROP INDEX "${ix.indexname}"`);

    await db.query(
      `INSERT INTO developers (id, issuer, subject, email, email_verified, name, organisation_id, organisation_name,
                               status, first_login_at, last_login_at, login_count)
       SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, $1, 'seed-' || g,
              'seed' || g || '@org' || (g % $2) || '.seed.example', true, 'Seed Developer ' || g,
              'seed-org-' || (g % $2), 'Seed Organisation ' || (g % $2), 'active',
              now() - interval '90 days', now() - (g % 30) * interval '1 day', 1 + g % 50
         FROM generate_series(1, $3) g
       ON CONFLICT DO NOTHING`,
      [SEED_ISSUER, SEED_ORGS, SEED_DEVELOPERS],
    );
    const [{ before }] = (await db.query(`SELECT coalesce(max(id), 0)::text AS before FROM audit_events`)).rows;
    const span = 30 * 24 * 3600; // seconds covered, oldest first
    for (let from = 1; from <= count; from += SEED_CHUNK) {
      const to = Math.min(count, from + SEED_CHUNK - 1);
      await db.query(INSERT_SEED, [from, to, span, count, SEED_ORGS, SEED_DEVELOPERS]);
    }
    // Fresh statistics, so the sealing statements below plan as index lookups.
    await db.query('ANALYZE audit_events');
    const insertSeconds = (performance.now() - t0) / 1000;
    log?.(`  inserted ${count.toLocaleString('en')} events in ${insertSeconds.toFixed(1)} s; sealing`);

    const t1 = performance.now();
    const [head] = (
      await db.query(
        `SELECT last_seq::text AS last_seq, last_id::text AS last_id, last_hash FROM audit_chain_head WHERE id = 1`,
      )
    ).rows;
    let seq = BigInt(head.last_seq);
    let prevHash = head.last_hash;
    let prevId = head.last_id;
    let after = before;
    let sealed = 0;
    const split = { select: 0, hash: 0, update: 0 };
    for (;;) {
      let ts = performance.now();
      const { rows } = await db.query(
        `SELECT ${RECORD_COLUMNS} FROM audit_events e WHERE e.id > $1 AND e.hash IS NULL ORDER BY e.id LIMIT $2`,
        [after, SEAL_BATCH],
      );
      split.select += performance.now() - ts;
      if (rows.length === 0) break;
      ts = performance.now();
      const ids = [];
      const seqs = [];
      const prevIds = [];
      const prevHashes = [];
      const hashes = [];
      for (const row of rows) {
        seq += 1n;
        const hash = chainHash(prevHash, row);
        ids.push(row.id);
        seqs.push(seq.toString());
        prevIds.push(prevId);
        prevHashes.push(prevHash);
        hashes.push(hash);
        prevHash = hash;
        prevId = row.id;
      }
      split.hash += performance.now() - ts;
      ts = performance.now();
      // The sealer's own statement (AuditChainService.sealBatch).
      await db.query(
        `UPDATE audit_events AS e
            SET seq = v.seq, prev_id = v.prev_id, prev_hash = v.prev_hash, hash = v.hash, sealed_at = clock_timestamp()
           FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) AS v(id, seq, prev_id, prev_hash, hash)
          WHERE e.id = v.id`,
        [ids, seqs, prevIds, prevHashes, hashes],
      );
      split.update += performance.now() - ts;
      sealed += rows.length;
      after = rows[rows.length - 1].id;
      if (sealed % 200_000 === 0) log?.(`  sealed ${sealed.toLocaleString('en')}`);
    }
    await db.query(
      `UPDATE audit_chain_head SET last_seq = $1, last_id = $2, last_hash = $3, updated_at = now() WHERE id = 1`,
      [seq.toString(), prevId, prevHash],
    );
    const sealSeconds = (performance.now() - t1) / 1000;
    const sec = (ms) => Math.round(ms / 100) / 10;
    log?.(
      `  sealed in ${sealSeconds.toFixed(1)} s (read ${sec(split.select)} s, hash ${sec(split.hash)} s, update ${sec(split.update)} s); re-creating ${indexes.length} indexes`,
    );
    const t2 = performance.now();
    for (const ix of indexes) await db.query(ix.indexdef);
    const indexSeconds = (performance.now() - t2) / 1000;
    await db.query('COMMIT');
    const [{ last }] = (await db.query(`SELECT max(id)::text AS last FROM audit_events`)).rows;
    return {
      seconds: (performance.now() - t0) / 1000,
      insertSeconds,
      sealSeconds,
      sealSplitSeconds: { read: sec(split.select), hash: sec(split.hash), update: sec(split.update) },
      indexSeconds,
      rows: sealed,
      firstId: String(BigInt(before) + 1n),
      lastId: last,
    };
  } catch (e) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

const SEAL_BATCH = 20_000;

// k picks the kind of event (decorrelated from the developer by a multiplier):
//  0-13 login.succeeded, 14-16 login.failed (six reasons), 17 portal.developer_moved,
//  18 profile.updated (admin), 19 admin.auth_failed (anonymous).
// $1..$2 the range of g, $3 the seconds covered, $4 the count, $5 organisations, $6 developers.
const INSERT_SEED = `INSERT INTO audit_events (occurred_at, type, outcome, reason, actor, target, profile_id, developer_id,
                               organisation_id, ip, user_agent, request_id, details)
  SELECT now() - make_interval(secs => $3::float8 - (g::float8 * $3::float8 / $4::float8)),
         CASE WHEN k < 14 THEN 'login.succeeded' WHEN k < 17 THEN 'login.failed'
              WHEN k = 17 THEN 'portal.developer_moved' WHEN k = 18 THEN 'profile.updated'
              ELSE 'admin.auth_failed' END,
         CASE WHEN (k BETWEEN 14 AND 16) OR k = 19 THEN 'failure' ELSE 'success' END,
         CASE WHEN k BETWEEN 14 AND 16 THEN (ARRAY['state_invalid','nonce_mismatch','email_unverified',
                'developer_blocked','portal_unreachable','id_token_invalid'])[1 + g % 6]
              WHEN k = 19 THEN 'unauthorized' END,
         CASE WHEN k < 18 THEN 'developer:' || dev WHEN k = 18 THEN 'admin:secret' ELSE 'anonymous' END,
         CASE WHEN k < 17 THEN 'profile:seed-profile-' || (g % 5)
              WHEN k = 17 THEN 'portal-user:' || (1000 + d)
              WHEN k = 18 THEN 'profile:seed-profile-' || (g % 5)
              ELSE 'api/audit/events' END,
         CASE WHEN k < 19 THEN 'seed-profile-' || (g % 5) END,
         CASE WHEN k < 18 THEN dev END,
         CASE WHEN k < 17 THEN 'seed-org-' || (d % $5) END,
         ('10.' || (d % 200) || '.' || (g % 250) || '.' || (1 + g % 200))::inet,
         (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0',
                'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15',
                'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0',
                'curl/8.5.0'])[1 + g % 4],
         'seed-' || g,
         CASE WHEN k < 14 THEN jsonb_build_object('provider', 'openid-connect',
                'action', 'GenerateOrLoginDeveloperProfile', 'portalOrgId', (d % $5)::text,
                'portalTeamId', (100 + d % $5)::text)
              WHEN k < 17 THEN jsonb_build_object('step', 'callback', 'provider', 'openid-connect')
              WHEN k = 17 THEN jsonb_build_object(
                'before', jsonb_build_object('organisationId', '1', 'teams', jsonb_build_array('1')),
                'after', jsonb_build_object('organisationId', (d % $5)::text, 'teams', jsonb_build_array((100 + d % $5)::text)))
              WHEN k = 18 THEN jsonb_build_object('changed', jsonb_build_array('ReturnURL'))
              ELSE jsonb_build_object('path', '/api/audit/events') END
    FROM (SELECT g, (g * 7) % 20 AS k, 1 + (g * 13) % $6 AS d,
                 ('00000000-0000-4000-8000-' || lpad((1 + (g * 13) % $6)::text, 12, '0'))::uuid AS dev
            FROM generate_series($1::int, $2::int) g) s`;

/**
 * The broker's own sealer at work: inserts `count` more events (now, unsealed) and times how long
 * its background sealing takes. Returns { rows, seconds, rate }.
 */
export async function timeBrokerSealer(db, count, timeoutMs, log) {
  const t0 = performance.now();
  await db.query(INSERT_SEED, [1, count, 60, count, SEED_ORGS, SEED_DEVELOPERS]);
  const t1 = performance.now();
  const r = await waitSealed(db, count, timeoutMs, log);
  return { rows: count, insertSeconds: Math.round((t1 - t0) / 100) / 10, ...r };
}

/** Waits until the broker's sealer has sealed every event; returns { seconds, rate, complete }. */
export async function waitSealed(db, rows, timeoutMs, log) {
  const t0 = performance.now();
  let lastLog = 0;
  for (;;) {
    const [{ n }] = (await db.query(`SELECT count(*)::int AS n FROM audit_events WHERE hash IS NULL`)).rows;
    const s = (performance.now() - t0) / 1000;
    if (n === 0) return { seconds: s, rate: Math.round(rows / s), complete: true };
    if (performance.now() - t0 > timeoutMs) {
      return { seconds: s, rate: Math.round((rows - n) / s), complete: false, unsealed: n };
    }
    if (s - lastLog >= 15) {
      lastLog = s;
      log?.(`  sealing: ${n.toLocaleString('en')} events left (${Math.round(s)} s)`);
    }
    await sleep(250);
  }
}

/**
 * A cursor of the audit API moved to another position. Cursors are signed (issue 13): the bench
 * holds the broker's session secret, so it re-signs the moved position with the built broker's own
 * CursorCodec and key derivation, as a second instance with the same secret would.
 */
async function cursorMover(sessionSecret) {
  const dist = new URL('../dist/apps/broker/libs/', import.meta.url);
  const { CursorCodec } = await import(new URL('common/src/paging/cursor-codec.js', dist).href);
  const { SessionKeys } = await import(new URL('config/src/session-keys.js', dist).href);
  const codec = new CursorCodec(new SessionKeys(sessionSecret).key('cursor'));
  return (cursor, id) => {
    const payload = JSON.parse(Buffer.from(cursor.split('.')[0], 'base64url').toString('utf8'));
    return codec.encode({ ...payload.p, id: String(id) }, payload.f);
  };
}

/** The typical queries, each `runs` times with varying parameters; p50/p95 of the HTTP round trip. */
export async function timeQueries(brokerUrl, secret, { runs, firstId, lastId, sessionSecret, days = 30 }) {
  const moveCursor = await cursorMover(sessionSecret);
  const headers = { authorization: secret };
  const rand = (n) => Math.floor(Math.random() * n);
  const now = Date.now();
  const hourStart = () => {
    const t = now - (1 + rand(days * 24 - 2)) * 3600_000;
    return new Date(t - (t % 3600_000));
  };
  const dayStart = () => {
    const t = now - (1 + rand(days - 2)) * 86400_000;
    return new Date(t - (t % 86400_000));
  };
  const iso = (d) => d.toISOString();
  const lo = BigInt(firstId);
  const hi = BigInt(lastId);
  const deepId = () => lo + ((hi - lo) * BigInt(25 + rand(50))) / 100n; // 25%–75% deep
  const firstPage = async (query) => (await getJson(`${brokerUrl}/api/audit/events?${query}`, headers)).next_cursor;
  const unfilteredCursor = await firstPage('limit=100');
  const failureCursor = await firstPage('outcome=failure&limit=100');
  /** @type {Array<[string, () => string]>} */
  const cases = [
    ['per developer', () => `developer=${seedDeveloperId(1 + rand(SEED_DEVELOPERS))}&limit=100`],
    [
      'per developer email',
      () => {
        const n = 1 + rand(SEED_DEVELOPERS);
        return `email=seed${n}@org${n % SEED_ORGS}.seed.example&limit=100`;
      },
    ],
    [
      'per organisation and hour',
      () => {
        const h = hourStart();
        return `organization=seed-org-${rand(SEED_ORGS)}&since=${iso(h)}&until=${iso(new Date(h.getTime() + 3600_000))}&limit=100`;
      },
    ],
    [
      'failed logins of a day',
      () => {
        const d = dayStart();
        return `type=login.failed&since=${iso(d)}&until=${iso(new Date(d.getTime() + 86400_000))}&limit=100`;
      },
    ],
    [
      'free text q (reason)',
      () => `q=${['nonce_mismatch', 'portal_unreachable', 'state_invalid', 'email_unverified'][rand(4)]}&limit=100`,
    ],
    ['free text q (email)', () => `q=seed${1 + rand(SEED_DEVELOPERS)}@&limit=100`],
    ['deep cursor page', () => `limit=100&cursor=${moveCursor(unfilteredCursor, deepId())}`],
    ['deep cursor page (failures)', () => `outcome=failure&limit=100&cursor=${moveCursor(failureCursor, deepId())}`],
  ];
  const results = [];
  for (const [name, make] of cases) {
    // One untimed run: the first execution plans the statement and warms the cache.
    await getJson(`${brokerUrl}/api/audit/events?${make()}`, headers);
    const samples = [];
    let rowsSum = 0;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const page = await getJson(`${brokerUrl}/api/audit/events?${make()}`, headers);
      samples.push(performance.now() - t0);
      rowsSum += page.data.length;
    }
    results.push({ name, ...latencyStats(samples), avgRows: Math.round(rowsSum / runs) });
  }
  return results;
}

/** Streams GET /api/audit/export?format=ndjson and counts lines; { rows, seconds, rowsPerS, mbPerS }. */
export function timeExport(brokerUrl, secret) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const u = new URL(`${brokerUrl}/api/audit/export?format=ndjson`);
    const req = http.request(
      {
        agent,
        hostname: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        headers: { authorization: secret },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`export: HTTP ${res.statusCode}`));
          return;
        }
        let rows = 0;
        let bytes = 0;
        let firstByteMs = null;
        res.on('data', (chunk) => {
          firstByteMs ??= performance.now() - t0;
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
        });
        res.on('end', () => {
          const seconds = (performance.now() - t0) / 1000;
          resolve({
            rows,
            seconds: Math.round(seconds * 100) / 100,
            rowsPerS: Math.round(rows / seconds),
            mbPerS: Math.round((bytes / 1e6 / seconds) * 10) / 10,
            firstByteMs: Math.round(firstByteMs ?? 0),
          });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(900_000, () => req.destroy(new Error('export timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** GET /api/audit/verify, timed. */
export async function timeVerify(brokerUrl, secret, mode = 'full') {
  const t0 = performance.now();
  const result = await getJson(`${brokerUrl}/api/audit/verify?mode=${mode}`, { authorization: secret });
  return { seconds: Math.round(((performance.now() - t0) / 1000) * 100) / 100, ...result };
}

export async function connect(url) {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  return db;
}

/**
 * GET /console (the security console's overview) with a console session: the first view (which
 * counts the closed hours of the 7-day window once) and then `runs` views, p50/p95 of the round
 * trip. The session row is written directly (no IdP in the bench), as the sign-in would write it.
 */
export async function timeConsoleOverview(db, brokerUrl, runs) {
  const id = randomBytes(32).toString('base64url');
  await db.query(
    `INSERT INTO console_sessions (id_hash, kind, subject, name, roles, csrf_token, expires_at)
     VALUES ($1, 'active', 'bench', 'Bench Auditor', '{auditor}', 'bench-csrf', now() + interval '1 hour')`,
    [createHash('sha256').update(id).digest()],
  );
  const headers = { cookie: `broker_console=${id}` };
  const view = async () => {
    const t0 = performance.now();
    const res = await fetch(`${brokerUrl}/console`, { headers, redirect: 'manual' });
    const body = await res.text();
    if (res.status !== 200 || !body.includes('id="signins"')) throw new Error(`console overview: HTTP ${res.status}`);
    return performance.now() - t0;
  };
  const firstMs = await view();
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await view());
  return { firstMs: Math.round(firstMs * 10) / 10, ...latencyStats(samples) };
}
