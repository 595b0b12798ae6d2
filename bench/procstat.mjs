// Process CPU and memory from /proc (Linux): CPU as utime + stime in ms, RSS and its peak
// (VmHWM) in MB. Postgres is a tree of processes: its CPU is the postmaster's own and reaped
// children's (cutime + cstime) plus every live child's.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** Clock ticks per second (`getconf CLK_TCK`); 100 on every Linux the bench runs on. */
const TICK_MS = 1000 / 100;

function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces and parentheses).
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of one process, ms; null when the process is gone. */
export function cpuMs(pid) {
  try {
    const f = statFields(pid);
    // f[0] is field 3 (state): utime is field 14, stime 15.
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return null;
  }
}

/** { user, sys } CPU of one process, ms; null when the process is gone. */
export function cpuSplit(pid) {
  try {
    const f = statFields(pid);
    return { user: Number(f[11]) * TICK_MS, sys: Number(f[12]) * TICK_MS };
  } catch {
    return null;
  }
}

/** CPU of a process tree rooted at `pid` (one level of children, as the postmaster has), ms. */
export function treeCpuMs(pid) {
  try {
    const f = statFields(pid);
    let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const c = statFields(entry);
        if (Number(c[1]) === pid) total += (Number(c[11]) + Number(c[12])) * TICK_MS;
      } catch {
        // exited meanwhile
      }
    }
    return total;
  } catch {
    return null;
  }
}

/** { rssMb, peakMb } from /proc/<pid>/status; nulls when unavailable. */
export function memory(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) / 1024 : null;
    };
    return { rssMb: kb('VmRSS'), peakMb: kb('VmHWM') };
  } catch {
    return { rssMb: null, peakMb: null };
  }
}

/** Resets VmHWM to the current RSS (clear_refs 5, Linux ≥ 4.0), so a phase gets its own peak. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * All CPUs of the machine from /proc/stat, ms: { busy, total, softirq } (busy = not idle, not
 * iowait). softirq matters here: loopback TCP delivery runs there, and with IRQ time accounting
 * it is charged to no process.
 */
export function machineCpu() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = v.reduce((a, b) => a + b, 0) * TICK_MS;
    const idle = (v[3] + v[4]) * TICK_MS;
    return { busy: total - idle, total, softirq: v[6] * TICK_MS };
  } catch {
    return null;
  }
}

/** Load average and CPU count, to show how busy the machine was. */
export function machine() {
  let load = null;
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    // not Linux
  }
  return { load };
}
