// `node bench/audit-insert-batch.mjs` (after `npm run build`): what an audit event's insert costs
// Postgres, one event per statement (as before session 14) against the broker's InsertBatcher
// (group commit), on the migrated schema of an embedded Postgres with fsync on. Postgres' CPU is
// every postgres process's, from /proc, over each round. Rounds alternate; nothing else should run.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import pg from 'pg';
import { BROKER_ENTRY, startDatabase } from './stack.mjs';
// dist is imported by URL, as bench/audit.mjs does (the scripts' type check stays off dist).
const dist = (file) => new URL(`../dist/apps/broker/libs/audit/src/${file}`, import.meta.url).href;
const { InsertBatcher } = await import(dist('audit-insert-batcher.js'));
const { INSERT_MANY_SQL, INSERT_SQL, insertManyParams, insertParams } = await import(dist('audit-record.js'));

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const EVENTS = Number(process.env.EVENTS ?? 8000);
const CALLERS = Number(process.env.CALLERS ?? 16);

/** CPU ms of every postgres process so far (clock ticks of 10 ms). */
function postgresCpuMs() {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).startsWith('postgres')) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10;
}

/** A login's event, as the broker writes it. */
const login = (i) =>
  insertParams({
    type: 'login.succeeded',
    outcome: 'success',
    actor: 'developer:3f0e7a2c-1111-4222-8333-444455556666',
    target: 'profile:p1',
    profileId: 'p1',
    developerId: '3f0e7a2c-1111-4222-8333-444455556666',
    organisationId: 'org-1',
    ip: '127.0.0.1',
    userAgent: 'bench-agent/1.0',
    requestId: `req-${i}`,
    details: { provider: 'openid-connect', action: 'GenerateOrLoginDeveloperProfile' },
  });

const db = await startDatabase({ fsync: true, statements: false });
try {
  const migrate = spawnSync(process.execPath, [BROKER_ENTRY, 'migration', 'run'], {
    env: { ...process.env, DATABASE_URL: db.url },
    encoding: 'utf8',
  });
  if (migrate.status !== 0) throw new Error(`migration failed: ${migrate.stderr}`);
  const pool = new pg.Pool({ connectionString: db.url, max: CALLERS });
  pool.on('error', () => undefined); // the server's shutdown at the end
  let statements = 0;
  const one = async (params) => {
    statements++;
    return (await pool.query({ name: 'one', text: INSERT_SQL, values: params })).rows[0];
  };
  const many = async (events) => {
    statements++;
    return (await pool.query({ name: 'many', text: INSERT_MANY_SQL, values: insertManyParams(events) })).rows;
  };

  /** `CALLERS` callers each writing events one after another until `EVENTS` are written. */
  async function round(label, write) {
    statements = 0;
    let next = 0;
    const cpu = postgresCpuMs();
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (next < EVENTS) await write(login(next++));
      }),
    );
    const ms = Date.now() - started;
    const us = ((postgresCpuMs() - cpu) * 1000) / EVENTS;
    console.log(
      `${label.padEnd(8)} ${EVENTS} events, ${Math.round((EVENTS / ms) * 1000)}/s, ` +
        `Postgres CPU ${us.toFixed(0)} µs/event, ${(EVENTS / statements).toFixed(2)} events/statement`,
    );
  }

  // The broker's one lane; four lanes give batches of about a quarter of the callers (smaller
  // batches, as at the bench's c=32, where about three events share a statement).
  /** @type {Array<{ lanes: number, batcher: { add(params: unknown): Promise<unknown> } }>} */
  const variants = [1, 4].map((lanes) => ({
    lanes,
    batcher: new InsertBatcher(one, many, { maxInFlight: lanes, maxBatch: 64 }),
  }));
  console.log(`${CALLERS} callers, ${EVENTS} events per round, ${ROUNDS} rounds`);
  await round('warm-up', one);
  for (let r = 0; r < ROUNDS; r++) {
    await round('single', one);
    for (const { lanes, batcher } of variants) {
      await round(`${lanes} lane${lanes > 1 ? 's' : ''}`, (params) => batcher.add(params));
    }
  }
  await pool.end();
} finally {
  await db.stop();
}
