// One-shot bootstrap of a fresh Tyk Enterprise Developer Portal for the compose stack (profile
// tyk): wait for the portal's /ready probe, create the super admin (POST /portal-api/bootstrap),
// and hand its API token to the broker through a file (TYK_PORTAL_ADMIN_TOKEN_FILE).
// Idempotent: when the file already holds a token, or TYK_PORTAL_ADMIN_TOKEN is given, it only
// writes that. Plain Node (>= 20), no dependencies. Exits 0 on success, 1 with one line otherwise.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const env = process.env;
const portal = (env.PORTAL_URL || 'http://tyk-portal:3001').replace(/\/+$/, '');
const tokenFile = env.PORTAL_ADMIN_TOKEN_FILE || '/app/portal-token/admin-token';
const timeoutMs = Number(env.PORTAL_READY_TIMEOUT_SECONDS || 300) * 1000;
const intervalMs = Number(env.PORTAL_READY_INTERVAL_MS || 2000);

function fail(message) {
  process.stderr.write(`portal bootstrap: ${message}\n`);
  process.exit(1);
}

function writeToken(token) {
  const tmp = `${tokenFile}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  renameSync(tmp, tokenFile);
}

async function waitUntilReady() {
  const started = Date.now();
  let last = 'no answer';
  for (;;) {
    try {
      const res = await fetch(`${portal}/ready`, { signal: AbortSignal.timeout(5000) });
      if (res.ok) return;
      last = `status ${res.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    if (Date.now() - started >= timeoutMs) {
      fail(
        `${portal}/ready did not answer 200 within ${timeoutMs / 1000} s (last: ${last}); check the portal's log (a missing or expired PORTAL_LICENSEKEY stops it)`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

async function main() {
  if (env.TYK_PORTAL_ADMIN_TOKEN) {
    writeToken(env.TYK_PORTAL_ADMIN_TOKEN);
    process.stdout.write(`portal bootstrap: using TYK_PORTAL_ADMIN_TOKEN; written to ${tokenFile}\n`);
    return;
  }
  if (existsSync(tokenFile) && readFileSync(tokenFile, 'utf8').trim() !== '') {
    process.stdout.write(`portal bootstrap: already done (token in ${tokenFile})\n`);
    return;
  }
  const username = env.PORTAL_ADMIN_EMAIL;
  const password = env.PORTAL_ADMIN_PASSWORD;
  if (!username || !password) fail('set PORTAL_ADMIN_EMAIL and PORTAL_ADMIN_PASSWORD in docker/.env');
  await waitUntilReady();
  const res = await fetch(`${portal}/portal-api/bootstrap`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ username, password, first_name: 'Portal', last_name: 'Admin' }),
    signal: AbortSignal.timeout(30000),
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: reported below
  }
  const token = body?.data?.api_token;
  if (!res.ok || typeof token !== 'string' || token === '') {
    fail(
      `POST ${portal}/portal-api/bootstrap answered ${res.status} without an API token. ` +
        "If the portal was bootstrapped before, copy the super admin's API token (portal UI: profile → API token) into docker/.env as TYK_PORTAL_ADMIN_TOKEN and start again",
    );
  }
  writeToken(token);
  process.stdout.write(`portal bootstrap: super admin ${username} created; API token written to ${tokenFile}\n`);
}

main().catch((e) => fail(e.message));
