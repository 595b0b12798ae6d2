// Summarises a V8 .cpuprofile (node --cpu-prof): self time and inclusive time per function,
// self time per package, optionally only for samples inside a time window (the load phases).
//
//   node bench/profile-top.mjs bench/results/broker-….cpuprofile [--top 30] [--from-us N --to-us N]
//
// --from-us/--to-us are CLOCK_MONOTONIC microseconds (process.hrtime.bigint() / 1000n in any
// process on the same machine: V8's profile clock is the same clock).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function shortUrl(url) {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(REPO)) u = u.slice(REPO.length + 1);
  u = u.replace(/^dist\/apps\/broker\//, '');
  return u;
}

/** The package (node_modules/<pkg>), our code (apps/…, libs/…), node internals, or a V8 bucket. */
export function categoryOf(frame) {
  const url = frame.url ?? '';
  if (!url) {
    if (frame.functionName.startsWith('(')) return frame.functionName;
    return '(native / builtins)';
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node internals';
  const short = shortUrl(url);
  const m = /^(apps\/[^/]+|libs\/[^/]+)\//.exec(short);
  return m ? `ours: ${m[1]}` : short;
}

function keyOf(frame) {
  const name = frame.functionName || '(anonymous)';
  return `${name} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

/**
 * { totalMs, windowMs, idleMs, gcMs, self: [{fn, ms, pct}], inclusive: [...], packages: [...] }
 * Percentages are of the busy (non-idle) time in the window.
 */
export function summariseProfile(file, { top = 30, fromUs = null, toUs = null } = {}) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map();
  const parent = new Map();
  for (const n of profile.nodes) {
    nodes.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map();
  const inclusive = new Map();
  const packages = new Map();
  let t = profile.startTime;
  let windowUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  let first = null;
  let last = null;
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample's time is the delta to the next sample (what V8 tools use as its weight).
    t += profile.timeDeltas[i] ?? 0;
    const dt = Math.max(0, profile.timeDeltas[i + 1] ?? 0);
    if (fromUs !== null && t < fromUs) continue;
    if (toUs !== null && t > toUs) continue;
    first ??= t;
    last = t;
    windowUs += dt;
    const node = nodes.get(profile.samples[i]);
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    if (frame.functionName === '(garbage collector)') gcUs += dt;
    const k = keyOf(frame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const cat = categoryOf(frame);
    packages.set(cat, (packages.get(cat) ?? 0) + dt);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const f = nodes.get(id).callFrame;
      if (f.functionName === '(root)') break;
      const key = keyOf(f);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  }
  const busyUs = windowUs - idleUs;
  const list = (map) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([fn, us]) => ({
        fn,
        ms: Math.round(us / 100) / 10,
        pct: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0,
      }));
  return {
    file,
    windowMs: Math.round(windowUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    gcMs: Math.round(gcUs / 1000),
    firstSampleUs: first,
    lastSampleUs: last,
    self: list(self),
    inclusive: list(inclusive),
    packages: list(packages),
  };
}

export function formatSummary(s) {
  const lines = [];
  lines.push(`CPU profile ${path.relative(process.cwd(), s.file)}`);
  lines.push(
    `  window ${s.windowMs} ms, busy ${s.busyMs} ms, idle ${s.idleMs} ms, GC ${s.gcMs} ms (${s.busyMs ? Math.round((s.gcMs / s.busyMs) * 100) : 0}% of busy)`,
  );
  const table = (title, rows) => {
    lines.push(`  ${title}`);
    for (const r of rows) lines.push(`    ${String(r.pct).padStart(5)}%  ${String(r.ms).padStart(9)} ms  ${r.fn}`);
  };
  table('self time by package / area:', s.packages);
  table('self time by function:', s.self);
  table('inclusive time by function:', s.inclusive);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : null;
  };
  if (!file) {
    process.stderr.write('usage: node bench/profile-top.mjs <file.cpuprofile> [--top N] [--from-us N --to-us N]\n');
    process.exit(2);
  }
  const s = summariseProfile(file, { top: opt('--top') ?? 30, fromUs: opt('--from-us'), toUs: opt('--to-us') });
  process.stdout.write(`${formatSummary(s)}\n`);
}
