// BENCH_PERF=1 (issue 19): the broker's CPU as the kernel counts it, from `perf record -e cpu-clock`
// of the broker process during the c=32 level, with the broker started with
// --perf-basic-prof-only-functions so that JIT-compiled JavaScript has names.
//
// Why beside BENCH_CPU_PROF: V8's profiler samples the main thread on a timer, so a thread that the
// kernel preempts inside a syscall (a socket write that wakes Postgres) is charged for the whole
// time it waited: in session 4 it blamed pg's writev for 16 % of the time, while the kernel's own
// share of the broker's CPU was 8 %. perf's cpu-clock counts only time on a CPU, on every thread
// (GC helpers, the libuv pool's crypto), kernel included.
//
// Each sample is charged to the nearest JavaScript frame on its stack (V8 internals, GC and
// natives called from JS count for the JS that caused them), then grouped by area.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Areas a sample's nearest JS frame (or, without one, its leaf) is grouped into. */
/** @type {Array<[string, RegExp]>} */
const GROUPS = [
  [
    'framework (express, router, nest, passport, helmet, body-parser)',
    /node_modules\/(express|router|body-parser|helmet|@nestjs|passport|passport-openidconnect|ipaddr\.js|proxy-addr|parseurl|cookie|on-finished|path-to-regexp|finalhandler|type-is|media-typer|content-type|send|encodeurl|statuses|depd|vary|qs|http-errors|raw-body|rxjs|iterare|reflect-metadata)\//,
  ],
  ['logging (pino)', /node_modules\/(nestjs-pino|pino|pino-http|pino-std-serializers|sonic-boom|@pinojs)\//],
  ['metrics (prom-client)', /node_modules\/(prom-client|tdigest|bintrees)\//],
  ['postgres driver (pg)', /node_modules\/(pg|pg-pool|pg-protocol|pg-types|postgres-[\w-]+)\//],
  ['undici', /node_modules\/undici\/|wasm-function/],
  ['jose', /node_modules\/jose\//],
  ['ours (apps/, libs/)', /\/dist\/apps\/broker\//],
  ['node: async_hooks', /node:(internal\/)?async_hooks/],
  ['node: crypto', /node:internal\/crypto/],
  ['node: http, net, streams, timers', /node:/],
];

function groupOf(stack) {
  for (const frame of stack) {
    if (!frame.startsWith('JS:') && !frame.includes('wasm-function')) continue;
    for (const [name, re] of GROUPS) if (re.test(frame)) return name;
    return 'other JS';
  }
  const leaf = stack[0] ?? '';
  if (leaf.startsWith('[k]')) return 'kernel (no JS on the stack)';
  if (/Scaveng|Mark|Sweep|Evacuat|Heap|GC|Concurrent/.test(leaf)) return 'GC (no JS on the stack)';
  if (/compiler::|Compile|Maglev|Turbofan/.test(leaf)) return 'JIT compiler';
  if (/nistz|ecp_|bn_|sha256|sha512|EVP_|ossl_|BN_/.test(leaf)) return 'OpenSSL (crypto)';
  return 'other native';
}

function nearestJs(stack) {
  const js = stack.find((f) => f.startsWith('JS:') || f.includes('wasm-function'));
  return (js ?? `[native] ${stack[0] ?? '?'}`).replace('file://', '').replace(/\/\S*?\/(node_modules|dist)\//, '$1/');
}

/** Starts `perf record` on `pid`; `stop()` ends it. Null when perf is not installed. */
export function startPerfRecord(pid, file) {
  if (spawnSync('perf', ['--version']).status !== 0) return null;
  const child = spawn('perf', ['record', '-e', 'cpu-clock', '-F', '999', '-g', '-p', String(pid), '-o', file], {
    stdio: 'ignore',
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGINT');
      }),
  };
}

/** Reads `perf script` of `file` and returns { samples, groups: [{name, pct}], functions: [{fn, pct}] }. */
export async function summarisePerf(file, { top = 25 } = {}) {
  const script = spawn('perf', ['script', '-i', file], { stdio: ['ignore', 'pipe', 'ignore'] });
  const groups = new Map();
  const functions = new Map();
  let samples = 0;
  let stack = [];
  const flush = () => {
    if (stack.length === 0) return;
    samples++;
    const g = groupOf(stack);
    groups.set(g, (groups.get(g) ?? 0) + 1);
    const f = nearestJs(stack);
    functions.set(f, (functions.get(f) ?? 0) + 1);
    stack = [];
  };
  for await (const line of createInterface({ input: script.stdout })) {
    if (/^\S/.test(line)) {
      flush();
      continue;
    }
    const m = /^\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)$/.exec(line);
    if (!m) {
      if (line.trim() === '') flush();
      continue;
    }
    const sym = m[1].replace(/\+0x[0-9a-f]+$/, '');
    stack.push(m[2].includes('kernel') ? `[k] ${sym}` : sym);
  }
  flush();
  const pct = (n) => Math.round((1000 * n) / Math.max(1, samples)) / 10;
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    samples,
    groups: sorted(groups).map(([name, n]) => ({ name, pct: pct(n) })),
    functions: sorted(functions)
      .slice(0, top)
      .map(([fn, n]) => ({ fn, pct: pct(n) })),
  };
}

export function formatPerf(summary) {
  const out = [`  ${summary.samples} samples (cpu-clock, all threads, kernel included)`, '  by area:'];
  for (const g of summary.groups) out.push(`    ${String(g.pct).padStart(5)} %  ${g.name}`);
  out.push('  by nearest JavaScript function:');
  for (const f of summary.functions) out.push(`    ${String(f.pct).padStart(5)} %  ${f.fn}`);
  return out.join('\n');
}
