// The broker's event loop under worst-case input (issue 13): requests built to make the broker's
// own work as large as it can be (fields far over their bounds, fields at their bounds audited as
// a diff, 16,000-character path segments on audited routes, address-like strings for the audit
// log's email scrubber), sent from many client addresses so no throttle or audit suppression
// hides the work, on every route, for a few seconds. Meanwhile one client keeps asking /health.
// The event-loop delay comes from the broker itself (prom-client's monitorEventLoopDelay, reset
// at every /metrics scrape, so a scrape before and after brackets the phase).
import { request } from './http.mjs';

const LONG = 'a'.repeat(16_000);
const almostEmail = (n) => `${'a'.repeat(n)}@`;

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The broker's own event-loop delay since the last scrape, in ms (max, p99). */
async function loopDelay(brokerUrl, headers) {
  const res = await request(`${brokerUrl}/metrics`, { headers, readBody: true });
  const read = (name) => {
    const m = new RegExp(`^${name}\\s+([\\d.e+-]+)`, 'm').exec(res.body);
    return m ? Math.round(Number(m[1]) * 1000 * 10) / 10 : null;
  };
  return { maxMs: read('nodejs_eventloop_lag_max_seconds'), p99Ms: read('nodejs_eventloop_lag_p99_seconds') };
}

/**
 * Runs the phase against a broker that has the SocialProvider profile `profile` (its JSON given)
 * and returns requests per route kind with their statuses, the /health round trips and the
 * broker's event-loop delay over the phase.
 */
export async function worstCasePhase({
  brokerUrl,
  adminSecret,
  profile,
  durationMs = 10_000,
  concurrency = 4,
  metricsHeaders = {},
}) {
  let ip = 0;
  const from = () => ({ 'X-Forwarded-For': `198.18.${(++ip >> 8) & 255}.${ip & 255}` });
  const admin = (path, init = {}) =>
    request(`${brokerUrl}${path}`, {
      ...init,
      headers: { Authorization: adminSecret, 'Content-Type': 'application/json', ...from(), ...(init.headers ?? {}) },
    });
  const anonymous = (path) => request(`${brokerUrl}${path}`, { headers: from() });
  const ldap = {
    ID: 'bench-ldap',
    Name: 'LDAP',
    ActionType: 'GenerateOrLoginDeveloperProfile',
    ProviderName: 'ADProvider',
    ProviderConfig: { LDAPServer: 'ldap.example' },
  };
  await admin(`/api/profiles/${ldap.ID}`, { method: 'POST', body: JSON.stringify(ldap) });
  const huge = structuredClone(profile);
  huge.ProviderConfig.CallbackBaseURL = `http://x/${almostEmail(200_000)}`;
  const bounded = (id) =>
    JSON.stringify({
      ...profile,
      ID: id,
      Name: almostEmail(2047),
      Type: almostEmail(2047),
      OrgID: almostEmail(2047),
      UserGroupMapping: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`g${i}`, almostEmail(2047)])),
    });
  let serial = 0;
  /** @type {Array<[string, () => Promise<any>]>} */
  const cases = [
    [
      'POST profile, 200 KB field',
      () => admin(`/api/profiles/wc-huge`, { method: 'POST', body: JSON.stringify(huge) }),
    ],
    [
      'PUT profile, 64 KB field',
      () =>
        admin(`/api/profiles/${profile.ID}`, {
          method: 'PUT',
          body: JSON.stringify({ ...profile, Name: almostEmail(64_000) }),
        }),
    ],
    [
      'POST+DELETE profile at its bounds',
      async () => {
        const id = `wc-bounded-${++serial}`;
        await admin(`/api/profiles/${id}`, { method: 'POST', body: bounded(id) });
        return admin(`/api/profiles/${id}`, { method: 'DELETE' });
      },
    ],
    ['GET /api/profiles/<16,000>, no credentials', () => anonymous(`/api/profiles/${LONG}`)],
    ['GET /api/developers/<16,000>, no credentials', () => anonymous(`/api/developers/${LONG}`)],
    ['GET /auth/{ldap}/<16,000>', () => anonymous(`/auth/${ldap.ID}/${LONG}`)],
    ['GET /auth/{id}/<16,000>', () => anonymous(`/auth/${profile.ID}/${LONG}`)],
    [
      'GET callback, long query',
      () =>
        anonymous(
          `/auth/${ldap.ID}/openid-connect/callback?state=${'s'.repeat(5000)}&error=${almostEmail(5000)}&error_description=${almostEmail(5000)}`,
        ),
    ],
    ['GET /api/audit/events?q=<long>', () => admin(`/api/audit/events?q=${almostEmail(15_000)}`)],
    ['GET /api/developers?email=<long>', () => admin(`/api/developers?email=${almostEmail(15_000)}`)],
  ];

  await loopDelay(brokerUrl, metricsHeaders); // resets the broker's histogram
  const statuses = {};
  let requests = 0;
  const started = performance.now();
  let done = false;
  const health = [];
  const poll = (async () => {
    while (!done) {
      const t = performance.now();
      await request(`${brokerUrl}/health`);
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; performance.now() - started < durationMs; i++) {
        const [name, send] = cases[i % cases.length];
        const res = await send();
        requests++;
        const key = `${name} ${res.status}`;
        statuses[key] = (statuses[key] ?? 0) + 1;
      }
    }),
  );
  done = true;
  await poll;
  const seconds = (performance.now() - started) / 1000;
  const delay = await loopDelay(brokerUrl, metricsHeaders);
  await admin(`/api/profiles/${ldap.ID}`, { method: 'DELETE' });
  const sorted = [...health].sort((a, b) => a - b);
  const r1 = (x) => (x === null ? null : Math.round(x * 10) / 10);
  return {
    seconds: r1(seconds),
    concurrency,
    requests,
    routes: cases.length,
    statuses,
    // 501 is the documented answer for a provider the broker does not run (provider_not_supported).
    fiveXx: Object.entries(statuses)
      .filter(([k]) => / 5\d\d$/.test(k) && !k.endsWith(' 501'))
      .reduce((n, [, v]) => n + v, 0),
    health: { n: sorted.length, p50Ms: r1(percentile(sorted, 50)), maxMs: r1(sorted.at(-1) ?? null) },
    eventLoopDelay: delay,
  };
}
