import { readFileSync } from 'node:fs';
import { freePort } from '@app/database';
import { Logger } from '@nestjs/common';
import { startPortalEmulator, type PortalEmulator } from '../../apps/portal-emulator/src/emulator.js';
import { startTestBroker, testConfig, type TestBroker } from './broker.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startDevIdp, type RunningTestDevIdp } from './dev-idp.js';

export const ADMIN_SECRET = 'stack-admin-secret-0192';
export const PORTAL_SECRET = 'stack-portal-api-secret-8841';
export const PORTAL_TOKEN = 'stack-portal-admin-token-5521';
export const CLIENT_SECRET = 'stack-client-secret-7763';
export const CLIENT_ID = 'portal-sso-broker';

/** The real parts on loopback: the broker (real Postgres), the dev IdP (child process), the portal emulator. */
export interface Stack {
  db: TestDatabase;
  idp: RunningTestDevIdp;
  portal: PortalEmulator;
  broker: TestBroker;
  brokerPort: number;
  profileIds: string[];
  stop(): Promise<void>;
}

export interface StackOptions {
  profileIds?: string[];
  env?: Record<string, string>;
  idpEnv?: Record<string, string>;
  /** Let the dev IdP's admin JWTs (broker-admin, broker-auditor clients) call the admin API. */
  adminTokens?: boolean;
  /** Wire the security console: its client at the dev IdP, the demo staff (CONSOLE_STAFF), admin tokens. */
  console?: boolean;
  /** More redirect URIs for the console's client at the dev IdP (e.g. a second broker on HTTPS). */
  consoleRedirects?: string[];
}

export const CONSOLE_CLIENT_ID = 'broker-console';
export const CONSOLE_CLIENT_SECRET = 'stack-console-secret-6620';
/** Staff accounts at the dev IdP for the console: an auditor and an admin. */
export const CONSOLE_STAFF = [
  { sub: 'sam-auditor', email: 'sam@security.example', name: 'Sam Auditor', roles: ['broker:auditor'] },
  { sub: 'ada-admin', email: 'ada@security.example', name: 'Ada Admin', roles: ['broker:admin'] },
];

export const ADMIN_AUDIENCE = 'urn:portal-sso-broker:admin';

/** An access token from the dev IdP's client_credentials grant (roles claim, audience = resource). */
export async function devIdpToken(stack: Stack, client: 'broker-admin' | 'broker-auditor'): Promise<string> {
  const secret = client === 'broker-admin' ? 'dev-admin-secret' : 'dev-auditor-secret';
  const res = await fetch(`${stack.idp.issuer}/oauth2/token`, {
    method: 'POST',
    headers: {
      Authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: ADMIN_AUDIENCE }).toString(),
  });
  if (res.status !== 200) throw new Error(`token for ${client}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  Logger.overrideLogger(['error', 'warn']);
  const profileIds = options.profileIds ?? ['guide'];
  const db = await createTestDatabase('stack');
  const brokerPort = await freePort();
  const redirects = profileIds.map((id) => `http://127.0.0.1:${brokerPort}/auth/${id}/openid-connect/callback`);
  // The portal first: its home page is where the IdP may send the user after logout.
  const portal = await startPortalEmulator({ apiSecret: PORTAL_SECRET, adminToken: PORTAL_TOKEN });
  const idp = await startDevIdp({
    env: {
      DEV_IDP_PUBLIC_HOST: '127.0.0.1',
      DEV_IDP_CLIENTS: JSON.stringify([
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          redirect_uris: redirects,
          post_logout_redirect_uris: [`${portal.url}/`, `${portal.url}/signed-out`],
        },
        ...(options.console
          ? [
              {
                client_id: CONSOLE_CLIENT_ID,
                client_secret: CONSOLE_CLIENT_SECRET,
                redirect_uris: [`http://127.0.0.1:${brokerPort}/console/callback`, ...(options.consoleRedirects ?? [])],
              },
            ]
          : []),
      ]),
      ...(options.console ? { DEV_IDP_USERS: JSON.stringify(CONSOLE_STAFF) } : {}),
      ...options.idpEnv,
    },
  });
  const portalUrl = new URL(portal.url);
  const broker = await startTestBroker(
    testConfig({
      DATABASE_URL: db.url,
      TYK_IB_SECRET: ADMIN_SECRET,
      TYK_LOGLEVEL: 'debug',
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_ENDPOINT: `${portalUrl.protocol}//${portalUrl.hostname}`,
      TYK_IB_TYKAPISETTINGS_DASHBOARDCONFIG_PORT: portalUrl.port,
      TYK_PORTAL_ADMIN_TOKEN: PORTAL_TOKEN,
      TYK_PORTAL_TIMEOUT_MS: '1500',
      ...(options.adminTokens || options.console
        ? { BROKER_ADMIN_OIDC_ISSUER: idp.issuer, BROKER_ADMIN_OIDC_AUDIENCE: ADMIN_AUDIENCE }
        : {}),
      ...(options.console
        ? {
            BROKER_PUBLIC_URL: `http://127.0.0.1:${brokerPort}`,
            BROKER_CONSOLE_CLIENT_ID: CONSOLE_CLIENT_ID,
            BROKER_CONSOLE_CLIENT_SECRET: CONSOLE_CLIENT_SECRET,
          }
        : {}),
      ...options.env,
    }),
    brokerPort,
  );
  return {
    db,
    idp,
    portal,
    broker,
    brokerPort,
    profileIds,
    stop: async () => {
      await broker.close().catch(() => undefined);
      await portal.stop().catch(() => undefined);
      await idp.stop().catch(() => undefined);
      await db.drop().catch(() => undefined);
    },
  };
}

/** The integration guide's profile (test/fixtures/tib/profiles.json), pointed at the stack. */
export function guideProfile(stack: Stack, id = 'guide', over: Record<string, unknown> = {}): Record<string, unknown> {
  const fixture = (
    JSON.parse(readFileSync(new URL('../fixtures/tib/profiles.json', import.meta.url), 'utf8')) as Record<
      string,
      unknown
    >[]
  )[0];
  const providers = (fixture.ProviderConfig as { UseProviders: Record<string, unknown>[] }).UseProviders;
  return {
    ...fixture,
    ID: id,
    IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET },
    ProviderConfig: {
      ...(fixture.ProviderConfig as object),
      CallbackBaseURL: `http://127.0.0.1:${stack.brokerPort}`,
      FailureRedirect: `${stack.portal.url}/?fail=true`,
      UseProviders: [
        {
          ...providers[0],
          Key: CLIENT_ID,
          Secret: CLIENT_SECRET,
          DiscoverURL: `${stack.idp.issuer}/.well-known/openid-configuration`,
        },
      ],
    },
    ReturnURL: `${stack.portal.url}/sso`,
    ...over,
  };
}

export async function putProfile(stack: Stack, profile: Record<string, unknown>): Promise<void> {
  const id = String(profile.ID);
  const headers = { Authorization: ADMIN_SECRET, 'Content-Type': 'application/json' };
  const exists = (await fetch(`${stack.broker.url}/api/profiles/${id}`, { headers })).status === 200;
  const res = await fetch(`${stack.broker.url}/api/profiles/${id}`, {
    method: exists ? 'PUT' : 'POST',
    headers,
    body: JSON.stringify(profile),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`profile ${id}: ${res.status} ${await res.text()}`);
}

/** Follows one redirect hop without following it: returns status and Location. */
export async function hop(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; location: string; res: Response }> {
  const res = await fetch(url, { ...init, redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location') ?? '', res };
}
