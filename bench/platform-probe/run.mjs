// The platform probe (issue 19, bench/README.md): CPU per login (the two hops) of the same Nest
// routes on Express and on Fastify, and of node:http doing the same answers, interleaved rounds.
// PROBE_ROUNDS (5), PROBE_SECONDS (8), PROBE_CONCURRENCY (32); PROBE_KINDS (express,fastify,bare).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

const ROUNDS = Number(process.env.PROBE_ROUNDS ?? 5);
const SECONDS = Number(process.env.PROBE_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.PROBE_CONCURRENCY ?? 32);
const KINDS = (process.env.PROBE_KINDS ?? 'express,fastify,bare').split(',');

/** utime + stime of a process, in ms (/proc/<pid>/stat, 100 ticks a second). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function round(kind, port) {
  const child = spawn(process.execPath, ['--no-memory-reducer', 'server.mjs', kind, String(port)], {
    cwd: import.meta.dirname,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)));
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
  let logins = 0;
  const login = async (i) => {
    const start = await pool.request({ path: `/auth/p${i % 5}/openid-connect`, method: 'GET' });
    await start.body.dump();
    const callback = await pool.request({
      path: `/auth/p${i % 5}/openid-connect/callback?code=c&state=s&iss=http%3A%2F%2Fidp.test`,
      method: 'GET',
      headers: { cookie: 'sso_broker_login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    });
    await callback.body.dump();
    if (start.statusCode !== 302 || callback.statusCode !== 302) {
      throw new Error(`${kind}: ${start.statusCode}/${callback.statusCode}, not 302/302`);
    }
    if (!callback.headers['set-cookie'] || (kind !== 'bare' && !start.headers['content-security-policy'])) {
      throw new Error(`${kind}: security headers or cookie missing`);
    }
  };
  const drive = async (ms) => {
    const until = Date.now() + ms;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (Date.now() < until) await login(logins++);
      }),
    );
  };
  await drive(3000); // warm-up: JIT
  logins = 0;
  const cpu0 = cpuMs(child.pid);
  const t0 = Date.now();
  await drive(SECONDS * 1000);
  const cpu = cpuMs(child.pid) - cpu0;
  const seconds = (Date.now() - t0) / 1000;
  await pool.close();
  child.kill('SIGTERM');
  await sleep(300);
  return { kind, loginsPerS: Math.round(logins / seconds), cpuMsPerLogin: cpu / logins };
}

const results = Object.fromEntries(KINDS.map((k) => [k, []]));
let port = 47100;
for (let r = 1; r <= ROUNDS; r++) {
  for (const kind of r % 2 ? KINDS : [...KINDS].reverse()) {
    const x = await round(kind, port++);
    results[kind].push(x.cpuMsPerLogin);
    console.log(
      `round ${r} ${kind.padEnd(8)} ${String(x.loginsPerS).padStart(6)} logins/s  ${x.cpuMsPerLogin.toFixed(3)} ms CPU/login`,
    );
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('\nCPU ms per login (two hops), median of rounds [min–max]:');
for (const kind of KINDS) {
  const xs = results[kind];
  console.log(
    `  ${kind.padEnd(8)} ${median(xs).toFixed(3)}  [${Math.min(...xs).toFixed(3)}–${Math.max(...xs).toFixed(3)}]`,
  );
}
if (results.express && results.fastify) {
  const pairs = results.express.map((e, i) => e - results.fastify[i]);
  console.log(`  express − fastify, per round: ${pairs.map((d) => d.toFixed(3)).join(', ')} ms`);
}
