// The login driver: complete developer logins as a browser makes them (start → IdP authorize →
// callback with the binding cookie → 302 to the portal's /sso?nonce=), at a fixed concurrency
// for a fixed duration or count, with latencies, errors and the CPU and memory of every process.
import { cpuMs, cpuSplit, machineCpu, memory, resetPeak, treeCpuMs } from './procstat.mjs';
import { request } from './http.mjs';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) broker-bench/1.0';

export function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const r1 = (x) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10) / 10);
const r2 = (x) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 100) / 100);

export function latencyStats(samples) {
  const s = Float64Array.from(samples).sort();
  return {
    n: s.length,
    p50: r1(percentile(s, 0.5)),
    p95: r1(percentile(s, 0.95)),
    p99: r1(percentile(s, 0.99)),
    max: r1(s.length ? s[s.length - 1] : null),
  };
}

class LoginError extends Error {
  constructor(code, detail) {
    super(`${code}${detail ? `: ${detail}` : ''}`);
    this.code = code;
  }
}

/**
 * The driver for one stack. `ctx`: { brokerUrl, profileId, portalUrl, idpAuthorize, subjects,
 * sampleEvery, pids: { broker, portal, postgres } }. Another system than the broker (the bench's
 * anchors, issue 19) gives its own `startUrl`, `callbackPrefix` (what the IdP must redirect to)
 * and `cookieName` (the cookie the start sets and the callback needs); `pids.broker` is then
 * that system's process. `startStatus`: the status a working start answers with, the broker's
 * (TIB's) 307 unless given; the anchors answer 302 (the same I/O, another status line).
 */
export function createDriver(ctx) {
  const startUrl = ctx.startUrl ?? `${ctx.brokerUrl}/auth/${ctx.profileId}/openid-connect`;
  const callbackPrefix = ctx.callbackPrefix ?? `${ctx.brokerUrl}/auth/${ctx.profileId}/openid-connect/callback?`;
  const cookieName = `${ctx.cookieName ?? 'sso_broker_login'}=`;
  const ssoPrefix = `${ctx.portalUrl}/sso?nonce=`;
  const startStatus = ctx.startStatus ?? 307;
  const totals = { ok: 0, failed: 0, portalChecked: 0, portalAccepted: 0 };

  /** One login for `sub`; resolves { startMs, idpMs, callbackMs, location } or throws LoginError. */
  async function login(sub) {
    const t0 = performance.now();
    const start = await request(startUrl, { headers: { 'user-agent': UA } });
    const t1 = performance.now();
    const to = start.headers.location ?? '';
    // To the IdP with startStatus; a failed start is a 302 to FailureRedirect with its error code.
    const toIdp = to.startsWith(ctx.idpAuthorize);
    if (start.status !== (toIdp ? startStatus : 302)) throw new LoginError(`start_http_${start.status}`);
    if (!toIdp) {
      throw new LoginError(`start_${new URL(to, startUrl).searchParams.get('error') ?? 'unexpected_location'}`);
    }
    const setCookie = [].concat(start.headers['set-cookie'] ?? []).find((c) => c.startsWith(cookieName));
    if (!setCookie) throw new LoginError('start_no_binding_cookie');
    const cookie = setCookie.split(';')[0];
    const authorize = new URL(to);
    authorize.searchParams.set('login_hint', sub);
    const idp = await request(authorize);
    const t2 = performance.now();
    const back = idp.headers.location ?? '';
    if (idp.status !== 302 || !back.startsWith(callbackPrefix)) throw new LoginError(`idp_http_${idp.status}`);
    const cb = await request(back, { headers: { cookie, 'user-agent': UA } });
    const t3 = performance.now();
    const location = cb.headers.location ?? '';
    if (cb.status !== 302) throw new LoginError(`callback_http_${cb.status}`);
    if (!location.startsWith(ssoPrefix)) {
      let code = 'unexpected_location';
      try {
        code = new URL(location).searchParams.get('error') ?? code;
      } catch {
        // not a URL
      }
      throw new LoginError(`callback_${code}`);
    }
    return { startMs: t1 - t0, idpMs: t2 - t1, callbackMs: t3 - t2, location };
  }

  /** The portal accepts the nonce (302 to its home page, session cookie set). */
  async function portalAccepts(location) {
    const res = await request(location);
    return (
      res.status === 302 && [].concat(res.headers['set-cookie'] ?? []).some((c) => c.startsWith('portal-session='))
    );
  }

  function cpuSnapshot() {
    return {
      broker: cpuMs(ctx.pids.broker),
      brokerSplit: cpuSplit(ctx.pids.broker),
      portal: cpuMs(ctx.pids.portal),
      postgres: ctx.pids.postgres ? treeCpuMs(ctx.pids.postgres) : null,
      driver: (() => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      })(),
      machine: machineCpu(),
    };
  }

  /**
   * Runs one phase. `pick(i)` names the subject of the i-th login of the phase. Stops after
   * `count` logins, or at `durationMs`. Returns the phase's numbers (with `keepSamples`, also the
   * raw callback latencies and CPU milliseconds, so phases can be summed).
   */
  async function phase({
    name,
    concurrency,
    durationMs = null,
    count = null,
    pick,
    onProgress = undefined,
    keepSamples = false,
  }) {
    resetPeak(ctx.pids.broker);
    const logBytes0 = ctx.brokerLogs.bytes;
    const cpu0 = cpuSnapshot();
    const startLat = [];
    const idpLat = [];
    const cbLat = [];
    const errors = new Map();
    const errorSamples = [];
    let issued = 0;
    let ok = 0;
    let failed = 0;
    let checked = 0;
    let accepted = 0;
    const began = performance.now();
    const beganUs = process.hrtime.bigint() / 1000n;
    const deadline = durationMs === null ? Infinity : began + durationMs;
    const more = () => (count !== null ? issued < count : performance.now() < deadline);
    const worker = async () => {
      while (more()) {
        const i = issued++;
        try {
          const r = await login(pick(i));
          startLat.push(r.startMs);
          idpLat.push(r.idpMs);
          cbLat.push(r.callbackMs);
          ok++;
          if (ctx.sampleEvery > 0 && ok % ctx.sampleEvery === 0) {
            checked++;
            if (await portalAccepts(r.location)) accepted++;
            else errors.set('portal_refused_nonce', (errors.get('portal_refused_nonce') ?? 0) + 1);
          }
        } catch (caught) {
          failed++;
          const e = /** @type {any} */ (caught);
          const code = e instanceof LoginError ? e.code : `network_${e.code ?? e.message}`;
          errors.set(code, (errors.get(code) ?? 0) + 1);
          if (errorSamples.length < 5) errorSamples.push(String(e.message));
        }
        if (onProgress && (ok + failed) % 1000 === 0) onProgress(ok + failed);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const elapsedMs = performance.now() - began;
    const endedUs = process.hrtime.bigint() / 1000n;
    const cpu1 = cpuSnapshot();
    const mem = memory(ctx.pids.broker);
    const portalMem = memory(ctx.pids.portal);
    const done = ok + failed;
    const per = (k) => (cpu0[k] === null || cpu1[k] === null || done === 0 ? null : r2((cpu1[k] - cpu0[k]) / done));
    const busy = cpu1.machine && cpu0.machine ? cpu1.machine.busy - cpu0.machine.busy : null;
    const total = cpu1.machine && cpu0.machine ? cpu1.machine.total - cpu0.machine.total : null;
    const softirq = cpu1.machine && cpu0.machine ? cpu1.machine.softirq - cpu0.machine.softirq : null;
    const ours =
      ['broker', 'portal', 'postgres', 'driver'].reduce(
        (sum, k) => sum + (cpu0[k] === null || cpu1[k] === null ? 0 : cpu1[k] - cpu0[k]),
        0,
      ) + (softirq ?? 0);
    totals.ok += ok;
    totals.failed += failed;
    totals.portalChecked += checked;
    totals.portalAccepted += accepted;
    return {
      name,
      concurrency,
      logins: done,
      ok,
      errors: failed + (checked - accepted),
      errorCodes: Object.fromEntries(errors),
      errorSamples,
      elapsedS: r2(elapsedMs / 1000),
      loginsPerS: r1(ok / (elapsedMs / 1000)),
      startMs: latencyStats(startLat),
      idpMs: latencyStats(idpLat),
      callbackMs: latencyStats(cbLat),
      brokerSysPct:
        cpu0.brokerSplit && cpu1.brokerSplit
          ? r1(
              ((cpu1.brokerSplit.sys - cpu0.brokerSplit.sys) /
                Math.max(
                  1,
                  cpu1.brokerSplit.sys - cpu0.brokerSplit.sys + cpu1.brokerSplit.user - cpu0.brokerSplit.user,
                )) *
                100,
            )
          : null,
      cpuMsPerLogin: {
        broker: per('broker'),
        postgres: per('postgres'),
        portal: per('portal'),
        driverAndIdp: per('driver'),
        // Machine-wide softirq (mostly loopback TCP between these processes), charged to none of them.
        softirq: softirq === null || done === 0 ? null : r2(softirq / done),
      },
      // Share of both cores busy during the phase, and the part not used by the bench's processes.
      machineBusyPct: busy !== null && total ? r1((busy / total) * 100) : null,
      otherBusyPct: busy !== null && total ? r1(Math.max(0, ((busy - ours) / total) * 100)) : null,
      brokerRssMb: r1(mem.rssMb),
      brokerPeakRssMb: r1(mem.peakMb),
      portalRssMb: r1(portalMem.rssMb),
      brokerLogBytesPerLogin: done ? r1((ctx.brokerLogs.bytes - logBytes0) / done) : null,
      portalNoncesChecked: checked,
      portalNoncesAccepted: accepted,
      windowUs: [Number(beganUs), Number(endedUs)],
      // For summing phases (the anchors' rounds): the raw latencies and CPU of the system.
      samples: keepSamples
        ? {
            callbackMs: cbLat,
            startMs: startLat,
            elapsedMs,
            cpuMs: Object.fromEntries(
              ['broker', 'postgres', 'portal', 'driver'].map((k) => [
                k,
                cpu0[k] === null || cpu1[k] === null ? null : cpu1[k] - cpu0[k],
              ]),
            ),
          }
        : undefined,
    };
  }

  return { login, phase, totals };
}
