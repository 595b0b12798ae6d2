// The printed table and the target check (the targets of issue 8, on the 2-core machine).

export const TARGETS = {
  loginsPerSAtC32: 300,
  callbackP99MsAtC32: 100,
  brokerCpuMsPerLogin: 2,
  auditQueryP95Ms: 50,
  consoleOverviewP95Ms: 200,
  exportRowsPerS: 100_000,
  readyMs: 3000,
  rssAfter20kMb: 250,
  /** "Not growing": what the second 10,000 logins may add to RSS. */
  rssGrowthMb: 10,
};

const fmt = (v, digits = 0) =>
  v === null || v === undefined ? '–' : typeof v === 'number' ? v.toFixed(digits) : String(v);

/** [{ target, value, ok }] for what this run measured (absent parts are left out). */
export function checkTargets(r) {
  const out = [];
  const add = (target, value, ok) => out.push({ target, value, ok });
  const c32 = r.phases?.find((p) => p.name === 'c=32');
  if (c32) {
    add(
      `≥ ${TARGETS.loginsPerSAtC32} logins/s at c=32, no errors`,
      `${c32.loginsPerS}/s, ${c32.errors} errors`,
      c32.loginsPerS >= TARGETS.loginsPerSAtC32 && c32.errors === 0,
    );
    add(
      `callback p99 ≤ ${TARGETS.callbackP99MsAtC32} ms at c=32`,
      `${c32.callbackMs.p99} ms`,
      c32.callbackMs.p99 !== null && c32.callbackMs.p99 <= TARGETS.callbackP99MsAtC32,
    );
    add(
      `broker CPU ≤ ${TARGETS.brokerCpuMsPerLogin} ms/login (c=32)`,
      `${c32.cpuMsPerLogin.broker} ms`,
      c32.cpuMsPerLogin.broker !== null && c32.cpuMsPerLogin.broker <= TARGETS.brokerCpuMsPerLogin,
    );
  }
  if (r.startup) {
    add(
      `ready ≤ ${TARGETS.readyMs} ms (existing database)`,
      `${r.startup.readyMs} ms`,
      r.startup.readyMs <= TARGETS.readyMs,
    );
  }
  if (r.memory) {
    add(
      `RSS ≤ ${TARGETS.rssAfter20kMb} MB after ${r.memory.logins} logins`,
      `${r.memory.rssAfterSecondHalfMb} MB`,
      r.memory.rssAfterSecondHalfMb <= TARGETS.rssAfter20kMb,
    );
    add(
      `RSS flat between the halves (≤ ${TARGETS.rssGrowthMb} MB)`,
      `${r.memory.growthMb >= 0 ? '+' : ''}${r.memory.growthMb} MB`,
      r.memory.growthMb <= TARGETS.rssGrowthMb,
    );
  }
  if (r.audit) {
    const worst = r.audit.queries.reduce((a, q) => (q.p95 > a.p95 ? q : a), r.audit.queries[0]);
    add(
      `audit queries p95 ≤ ${TARGETS.auditQueryP95Ms} ms at ${r.audit.events.toLocaleString('en')} events`,
      `worst ${worst.p95} ms (${worst.name})`,
      worst.p95 <= TARGETS.auditQueryP95Ms,
    );
    if (r.audit.consoleOverview) {
      add(
        `console overview p95 ≤ ${TARGETS.consoleOverviewP95Ms} ms at ${r.audit.events.toLocaleString('en')} events`,
        `${r.audit.consoleOverview.p95} ms (first view ${r.audit.consoleOverview.firstMs} ms)`,
        r.audit.consoleOverview.p95 <= TARGETS.consoleOverviewP95Ms,
      );
    }
    add(
      `export ≥ ${TARGETS.exportRowsPerS.toLocaleString('en')} rows/s`,
      `${r.audit.export.rowsPerS.toLocaleString('en')} rows/s`,
      r.audit.export.rowsPerS >= TARGETS.exportRowsPerS,
    );
  }
  if (r.correctness) {
    const c = r.correctness;
    add(
      'every login audited (login.succeeded = successful logins)',
      `${c.loginSucceededEvents} / ${c.successfulLogins}`,
      c.eventsMatchLogins,
    );
    add(
      'sampled nonces accepted by the portal',
      `${c.portalNoncesAccepted} / ${c.portalNoncesChecked}`,
      c.portalNoncesChecked > 0 && c.portalNoncesAccepted === c.portalNoncesChecked,
    );
    add('audit chain intact after the logins', c.auditVerify.status, c.auditVerify.status === 'intact');
  }
  if (r.worstCase) {
    const w = r.worstCase;
    add(
      'worst-case input: /health within 1 s, broker event loop never blocked 1 s, no 5xx',
      `/health max ${w.health.maxMs} ms, loop delay max ${w.eventLoopDelay.maxMs} ms, ${w.fiveXx} 5xx`,
      w.health.maxMs < 1000 && (w.eventLoopDelay.maxMs ?? Infinity) < 1000 && w.fiveXx === 0,
    );
  }
  if (r.audit?.verify?.status) {
    add(
      'audit chain intact after seeding',
      `${r.audit.verify.status} (${r.audit.verify.count} events)`,
      r.audit.verify.status === 'intact',
    );
  }
  return out;
}

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatReport(r) {
  const out = [];
  out.push('');
  out.push(
    `Broker bench ${r.startedAt} · ${r.machine.cpus} × ${r.machine.cpuModel} · node ${r.machine.node} · commit ${r.commit ?? '?'} · load ${r.machine.loadAtStart?.join(' ')} → ${r.machine.loadAtEnd?.join(' ')}`,
  );
  if (r.startup) {
    out.push(
      `Start-up: ready in ${r.startup.readyMs} ms with an existing database (first start with migrations: ${r.startup.coldReadyMs} ms), RSS at ready ${r.startup.rssAtReadyMb} MB`,
    );
  }
  if (r.phases?.length) {
    out.push('');
    out.push(
      "Logins (latency ms; CPU ms per login by process, sys% = kernel share of the broker's, sirq = machine softirq (loopback TCP) per login; busy% = both cores; other% = used outside the bench)",
    );
    out.push(
      table(
        [
          'phase',
          'c',
          'logins',
          'ok/s',
          'err',
          'start p50/95/99',
          'callback p50/95/99',
          'broker',
          'sys%',
          'pg',
          'portal',
          'drv+idp',
          'sirq',
          'busy%',
          'other%',
          'RSS/peak MB',
          'log B',
        ],
        r.phases.map((p) => [
          p.name,
          p.concurrency,
          p.logins,
          fmt(p.loginsPerS, 1),
          p.errors,
          `${fmt(p.startMs.p50, 1)}/${fmt(p.startMs.p95, 1)}/${fmt(p.startMs.p99, 1)}`,
          `${fmt(p.callbackMs.p50, 1)}/${fmt(p.callbackMs.p95, 1)}/${fmt(p.callbackMs.p99, 1)}`,
          fmt(p.cpuMsPerLogin.broker, 2),
          fmt(p.brokerSysPct),
          fmt(p.cpuMsPerLogin.postgres, 2),
          fmt(p.cpuMsPerLogin.portal, 2),
          fmt(p.cpuMsPerLogin.driverAndIdp, 2),
          fmt(p.cpuMsPerLogin.softirq, 2),
          fmt(p.machineBusyPct),
          fmt(p.otherBusyPct),
          `${fmt(p.brokerRssMb)}/${fmt(p.brokerPeakRssMb)}`,
          fmt(p.brokerLogBytesPerLogin),
        ]),
      ),
    );
    const errs = r.phases.filter((p) => p.errors > 0).map((p) => `${p.name}: ${JSON.stringify(p.errorCodes)}`);
    if (errs.length) out.push(`Errors: ${errs.join('; ')}`);
    const c32 = r.phases.find((p) => p.name === 'c=32');
    if (c32?.portalCallsPerLogin) {
      out.push(
        `Portal calls per login at c=32: ${Object.entries(c32.portalCallsPerLogin)
          .map(([k, v]) => `${k} ×${v}`)
          .join(', ')}`,
      );
    }
    if (c32?.sqlPerLogin) {
      out.push(
        'SQL at c=32 (pg_stat_statements, by execution time; the background sealer included): calls/login, ms/call, ms/login',
      );
      for (const s of c32.sqlPerLogin.filter((q) => q.msPerLogin >= 0.005).slice(0, 12)) {
        out.push(
          `  ×${fmt(s.perLogin, 2).padStart(5)}  ${fmt(s.msPerCall, 3).padStart(7)}  ${fmt(s.msPerLogin, 3).padStart(6)}  ${s.query}`,
        );
      }
    }
  }
  if (r.memory) {
    out.push(
      `Memory: RSS ${r.memory.rssAfterFirstHalfMb} MB after ${r.memory.logins / 2} logins, ${r.memory.rssAfterSecondHalfMb} MB after ${r.memory.logins} (growth ${r.memory.growthMb} MB, peak ${r.memory.peakRssMb} MB); login_states rows left: ${r.memory.loginStatesLeft}`,
    );
  }
  if (r.correctness) {
    const c = r.correctness;
    out.push(
      `Correctness: ${c.loginSucceededEvents} login.succeeded events for ${c.successfulLogins} successful logins (${c.loginFailedEvents} login.failed for ${c.failedLogins} failed); portal accepted ${c.portalNoncesAccepted}/${c.portalNoncesChecked} sampled nonces; audit chain ${c.auditVerify.status} (${c.auditVerify.count} sealed, ${c.auditVerify.unsealed} unsealed, verified in ${c.auditVerify.seconds} s); IdP saw discovery ×${c.idp.discovery}, JWKS ×${c.idp.jwks}`,
    );
  }
  if (r.worstCase) {
    const w = r.worstCase;
    out.push(
      `Worst-case input: ${w.requests} requests on ${w.routes} routes in ${w.seconds} s (concurrency ${w.concurrency}, ${w.fiveXx} 5xx): broker event-loop delay max ${w.eventLoopDelay.maxMs} ms (p99 ${w.eventLoopDelay.p99Ms} ms); /health p50 ${w.health.p50Ms} ms, max ${w.health.maxMs} ms over ${w.health.n} polls`,
    );
  }
  if (r.audit) {
    const a = r.audit;
    out.push('');
    out.push(
      `Audit at ${a.events.toLocaleString('en')} events (${a.tableSize}): ${a.seed.rows.toLocaleString('en')} seeded and sealed in ${a.seed.seconds} s (insert ${a.seed.insertSeconds} s, chain ${a.seed.sealSeconds} s, indexes ${a.seed.indexSeconds} s); VACUUM ANALYZE ${a.vacuumAnalyzeSeconds} s`,
    );
    out.push(
      `The broker's background sealer: ${a.brokerSealer.rows.toLocaleString('en')} new events sealed in ${a.brokerSealer.seconds} s (${a.brokerSealer.ratePerS.toLocaleString('en')} events/s${a.brokerSealer.complete ? '' : ', NOT finished'})`,
    );
    out.push(
      table(
        ['query', 'runs', 'p50 ms', 'p95 ms', 'max ms', 'rows'],
        a.queries.map((q) => [q.name, q.n, fmt(q.p50, 1), fmt(q.p95, 1), fmt(q.max, 1), q.avgRows]),
      ),
    );
    out.push(
      `Export (ndjson): ${a.export.rows.toLocaleString('en')} rows in ${a.export.seconds} s = ${a.export.rowsPerS.toLocaleString('en')} rows/s (${a.export.mbPerS} MB/s, first byte after ${a.export.firstByteMs} ms)`,
    );
    out.push(
      a.verify.status
        ? `Verify: ${a.verify.status}, ${a.verify.count.toLocaleString('en')} events in ${a.verify.seconds} s (${a.verify.eventsPerS.toLocaleString('en')} events/s)` +
            (a.verify.routine
              ? `; routine verify after it: ${a.verify.routine.count.toLocaleString('en')} events in ${a.verify.routine.seconds} s`
              : '')
        : `Verify: skipped (${a.verify.skipped})`,
    );
  }
  if (r.targets?.length) {
    out.push('');
    out.push('Targets');
    for (const t of r.targets) out.push(`  ${t.ok ? 'PASS' : 'FAIL'}  ${t.target}: ${t.value}`);
  }
  return out.join('\n');
}
