// `npm start`: the whole flow on one machine, in one process tree: the broker (with embedded
// Postgres, data in .data/), the dev IdP (Cloudentity-like) and the portal emulator. Creates the
// demo profile when missing, keeps generated secrets in .data/, prints one banner. Ctrl-C stops all.
import { spawn } from 'node:child_process';
import { BROKER_NODE_FLAGS } from './node-flags.mjs';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ensureBuilt } from './ensure-built.mjs';
import { formatLogLine, SETUP_REQUEST_PREFIX } from './stack-log.mjs';

const DATA = path.resolve(process.env.BROKER_DATA_DIR || '.data');
const BROKER_PORT = Number(process.env.TYK_IB_PORT || 3010);
const IDP_PORT = Number(process.env.DEV_IDP_PORT || 3020);
const PORTAL_PORT = Number(process.env.PORTAL_EMULATOR_PORT || 3001);
const PROFILE_ID = 'demo';

function kept(name, envValue) {
  if (envValue) return envValue;
  const file = path.join(DATA, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const value = randomBytes(18).toString('base64url');
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
  });
}

async function waitFor(url, name, child, timeoutMs = 60000, ready = (res) => res.ok) {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (child.exitCode !== null) {
      throw new Error(`${name} exited with code ${child.exitCode} during start-up (see its log above)`);
    }
    try {
      const res = await fetch(url, { headers: { 'X-Request-Id': `${SETUP_REQUEST_PREFIX}ready` } });
      if (ready(res)) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not become ready at ${url} within ${timeoutMs / 1000}s`);
}

const children = [];
function run(name, entry, env, nodeFlags = []) {
  const child = spawn(process.execPath, [...nodeFlags, entry], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Short human lines instead of the broker's JSON (which production log pipelines keep).
  const prefix = (stream, out) => {
    let rest = '';
    stream.on('data', (d) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop();
      for (const line of lines.filter(Boolean)) {
        const shown = formatLogLine(line);
        if (shown !== null) out.write(`[${name}] ${shown}\n`);
      }
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  children.push({ name, child });
  return child;
}

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  // The broker first (it stops its embedded Postgres), then the stand-ins.
  for (const { child } of [...children].reverse()) {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  await Promise.all(
    children.map(({ child }) => (child.exitCode === null ? new Promise((r) => child.once('exit', r)) : null)),
  );
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function main() {
  for (const [port, variable] of [
    [BROKER_PORT, 'TYK_IB_PORT'],
    [IDP_PORT, 'DEV_IDP_PORT'],
    [PORTAL_PORT, 'PORTAL_EMULATOR_PORT'],
  ]) {
    if (!(await portFree(port))) {
      process.stderr.write(
        `Port ${port} is already in use. Stop what uses it, or choose another port with ${variable}=<port> npm start\n`,
      );
      process.exit(1);
    }
  }
  ensureBuilt();
  mkdirSync(DATA, { recursive: true });
  const adminSecret = kept('admin-secret', process.env.TYK_IB_SECRET);
  const portalSecret = kept('portal-api-secret', process.env.PORTAL_API_SECRET);
  const portalToken = kept('portal-admin-token', process.env.TYK_PORTAL_ADMIN_TOKEN);
  const clientSecret = kept('idp-client-secret', process.env.DEV_IDP_CLIENT_SECRET);
  const consoleSecret = kept('console-client-secret', process.env.BROKER_CONSOLE_CLIENT_SECRET);
  // Keys the stored tokens and page cursors: kept, so they survive a restart of the stack.
  const sessionSecret = kept('session-secret', process.env.TYK_IB_SESSION_SECRET);
  const brokerUrl = `http://localhost:${BROKER_PORT}`;
  const portalUrl = `http://localhost:${PORTAL_PORT}`;
  const issuer = `http://localhost:${IDP_PORT}/dev/developers`;

  const idp = run('dev-idp', 'dist/apps/dev-idp/apps/dev-idp/src/main.js', {
    DEV_IDP_PORT: String(IDP_PORT),
    DEV_IDP_DATA_DIR: path.join(DATA, 'dev-idp'),
    DEV_IDP_CLIENTS: JSON.stringify([
      {
        client_id: 'portal-sso-broker',
        client_secret: clientSecret,
        redirect_uris: [`${brokerUrl}/auth/${PROFILE_ID}/openid-connect/callback`],
        // RP-initiated logout (GET /auth/{id}/openid-connect/logout) returns to the portal.
        post_logout_redirect_uris: [`${portalUrl}/`],
      },
      // The security console's own client (code + PKCE), and its demo staff below.
      { client_id: 'broker-console', client_secret: consoleSecret, redirect_uris: [`${brokerUrl}/console/callback`] },
    ]),
    DEV_IDP_USERS: JSON.stringify([
      {
        sub: 'sam-auditor',
        email: 'sam@security.example',
        name: 'Sam Auditor (demo auditor)',
        roles: ['broker:auditor'],
      },
      { sub: 'ada-admin', email: 'ada@security.example', name: 'Ada Admin (demo admin)', roles: ['broker:admin'] },
    ]),
  });
  const portal = run('portal', 'dist/apps/portal-emulator/apps/portal-emulator/src/main.js', {
    PORTAL_EMULATOR_PORT: String(PORTAL_PORT),
    PORTAL_API_SECRET: portalSecret,
    PORTAL_ADMIN_TOKEN: portalToken,
  });
  await waitFor(`http://127.0.0.1:${IDP_PORT}/health`, 'dev IdP', idp);
  // The emulator serves only the portal's documented routes: any HTTP answer means it is up.
  await waitFor(`http://127.0.0.1:${PORTAL_PORT}/`, 'portal emulator', portal, 60000, (res) => res.status < 500);

  const broker = run(
    'broker',
    'dist/apps/broker/apps/broker/src/main.js',
    {
      TYK_IB_PORT: String(BROKER_PORT),
      TYK_IB_SECRET: adminSecret,
      TYK_IB_SESSION_SECRET: sessionSecret,
      BROKER_DATA_DIR: DATA,
      BROKER_PUBLIC_URL: brokerUrl,
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: 'http://localhost',
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: String(PORTAL_PORT),
      TYK_PORTAL_ADMIN_TOKEN: portalToken,
      BROKER_ADMIN_OIDC_ISSUER: process.env.BROKER_ADMIN_OIDC_ISSUER || issuer,
      BROKER_ADMIN_OIDC_AUDIENCE: process.env.BROKER_ADMIN_OIDC_AUDIENCE || 'urn:portal-sso-broker:admin',
      // Each signed audit checkpoint also lands here, outside the database.
      BROKER_AUDIT_CHECKPOINT_DIR: path.join(DATA, 'audit-checkpoints'),
      BROKER_CONSOLE_CLIENT_ID: 'broker-console',
      BROKER_CONSOLE_CLIENT_SECRET: consoleSecret,
    },
    BROKER_NODE_FLAGS,
  );
  broker.on('exit', (code) => {
    if (!stopping) {
      process.stderr.write(`broker exited (code ${code}); stopping the stack\n`);
      void stopAll(code || 1);
    }
  });
  await waitFor(`http://127.0.0.1:${BROKER_PORT}/health/ready`, 'broker', broker, 120000);

  // Marked so the view hides the stack's own set-up calls and the banner stays the last line.
  const headers = {
    Authorization: adminSecret,
    'Content-Type': 'application/json',
    'X-Request-Id': `${SETUP_REQUEST_PREFIX}profile`,
  };
  const existing = await fetch(`http://127.0.0.1:${BROKER_PORT}/api/profiles/${PROFILE_ID}`, { headers });
  if (existing.status === 404) {
    const profile = {
      ID: PROFILE_ID,
      Name: 'Demo: Cloudentity-like dev IdP to the portal emulator',
      OrgID: '0',
      ActionType: 'GenerateOrLoginDeveloperProfile',
      Type: 'redirect',
      ProviderName: 'SocialProvider',
      ProviderConfig: {
        CallbackBaseURL: brokerUrl,
        FailureRedirect: `${portalUrl}/?fail=true`,
        UseProviders: [
          {
            Name: 'openid-connect',
            Key: 'portal-sso-broker',
            Secret: clientSecret,
            Scopes: ['openid', 'profile', 'email'],
            DiscoverURL: `${issuer}/.well-known/openid-configuration`,
          },
        ],
      },
      IdentityHandlerConfig: {
        DashboardCredential: portalSecret,
        // Least privilege (the portal makes every SSO developer a Consumer Admin): the dev IdP's
        // organisation admins keep that role, everyone else is a team member.
        OrganisationSync: {
          Enabled: true,
          IdClaim: 'organization_id',
          NameClaim: 'organization_name',
          RoleClaim: 'groups',
          RoleMapping: { 'acme-admins': 'consumer-admin', 'globex-admins': 'consumer-admin' },
          DefaultRole: 'consumer-team-member',
        },
      },
      ReturnURL: `${portalUrl}/sso`,
      DefaultUserGroupID: '',
    };
    const created = await fetch(`http://127.0.0.1:${BROKER_PORT}/api/profiles/${PROFILE_ID}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(profile),
    });
    if (created.status !== 201) {
      throw new Error(`could not create the demo profile: ${created.status} ${await created.text()}`);
    }
  }

  const line = '─'.repeat(72);
  process.stdout.write(
    [
      '',
      line,
      ' Portal SSO Broker is running (Ctrl-C stops everything)',
      line,
      ` Sign in as a developer:  ${brokerUrl}/auth/${PROFILE_ID}/openid-connect`,
      ` Broker home page:        ${brokerUrl}/`,
      ` Security console:        ${brokerUrl}/console  (sign in as Sam Auditor or Ada Admin)`,
      ` Tyk portal (emulator):   ${portalUrl}/`,
      ` Dev IdP (Cloudentity):   ${issuer}  (pick any demo developer; no password)`,
      ` Admin API docs:          ${brokerUrl}/docs`,
      ` Admin secret:            ${adminSecret}   (kept in ${path.join(DATA, 'admin-secret')})`,
      ` Try:  curl -H "Authorization: ${adminSecret}" ${brokerUrl}/api/profiles`,
      ` Setup doctor:  curl -H "Authorization: ${adminSecret}" ${brokerUrl}/api/profiles/${PROFILE_ID}/check`,
      ` Audit: signed checkpoints  ${brokerUrl}/api/audit/checkpoints  (files in ${path.join(DATA, 'audit-checkpoints')})`,
      `        verify the chain      ${brokerUrl}/api/audit/verify  (keys: /api/audit/keys)`,
      line,
      '',
    ].join('\n'),
  );
}

main().catch((e) => {
  process.stderr.write(`npm start failed: ${e.message}\n`);
  void stopAll(1);
});
