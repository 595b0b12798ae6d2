// Over 300 lines, one job: configuring and serving oidc-provider as the dev IdP. The largest part is
// one Configuration object oidc-provider takes (clients, claims, features, interactions); accounts,
// keys, storage and pages are in their own files.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider, errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { AccountDirectory, accountClaims } from './accounts.js';
import type { DevIdpConfig } from './config.js';
import { loadOrCreateCookieKeys, loadOrCreateSigningKeys } from './keys.js';
import { MemoryStore } from './memory-adapter.js';
import { renderLoginPage, renderMessagePage } from './views.js';

export interface RunningDevIdp {
  issuer: string;
  port: number;
  /** Where a sign-in starts (the authorization endpoint). */
  loginUrl: string;
  close(): Promise<void>;
}

export type LogFn = (line: string) => void;

/** Cloudentity's endpoint paths, relative to the issuer. */
const ROUTES = {
  authorization: '/oauth2/authorize',
  token: '/oauth2/token',
  userinfo: '/userinfo',
  jwks: '/.well-known/jwks.json',
  revocation: '/oauth2/revoke',
  end_session: '/oidc/logout',
  pushed_authorization_request: '/par',
};

const MAX_FORM_BYTES = 16 * 1024;

/** The HTTP request being handled by oidc-provider, for the client-authentication check below. */
const currentRequest = new AsyncLocalStorage<IncomingMessage>();

/**
 * oidc-provider accepts client_secret_basic and client_secret_post interchangeably for a client
 * registered with either; Cloudentity does not. Refuse a secret sent the other way than the one
 * the client is registered with (body vs. Authorization: Basic).
 */
function enforceRegisteredAuthMethod(provider: Provider): void {
  const proto = provider.Client.prototype;
  const compare = proto.compareClientSecret;
  proto.compareClientSecret = function (actual: string): Promise<boolean> {
    const req = currentRequest.getStore();
    if (req) {
      const usedBasic = /^basic /i.test(req.headers.authorization ?? '');
      const wantsBasic = this.clientAuthMethod === 'client_secret_basic';
      if (usedBasic !== wantsBasic) {
        return Promise.reject(
          new errors.InvalidClientAuth(`client is registered for ${this.clientAuthMethod}, another method was used`),
        );
      }
    }
    return compare.call(this, actual);
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new Error('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Starts the dev IdP: an oidc-provider authorization server mounted at `/<tenant>/<workspace>` (so
 * the issuer has Cloudentity's shape), a developer-picker login page, automatic consent, and
 * client_credentials JWT access tokens for the broker's admin API.
 */
export async function startDevIdp(config: DevIdpConfig, log: LogFn): Promise<RunningDevIdp> {
  const signingKeys = await loadOrCreateSigningKeys(config.dataDir);
  const cookieKeys = loadOrCreateCookieKeys(config.dataDir);
  const directory = new AccountDirectory({
    extra: config.extraUsers,
    usersFile: config.usersFile,
    onFileError: (message) => log(`users file ignored: ${message}`),
  });
  directory.checkUsersFile();

  const base = `/${config.tenant}/${config.workspace}`;
  const rolesByClient = new Map(config.adminClients.map((c) => [c.client_id, c.roles]));
  const store = new MemoryStore();

  // The server listens first (DEV_IDP_PORT=0 picks a port, which the issuer must carry); requests
  // are answered 503 until the provider is built.
  const routing: { handle?: (req: IncomingMessage, res: ServerResponse) => Promise<void> } = {};
  const server = createServer((req, res) => {
    if (!routing.handle) {
      send(res, 503, 'text/plain; charset=utf-8', 'starting\n');
      return;
    }
    routing.handle(req, res).catch((err: unknown) => {
      log(`request failed: ${(err as Error).message}`);
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.end();
    });
  });
  const port = await listen(server, config.port, config.host);
  const issuer = `http://${config.publicHost}:${port}${base}`;

  const configuration: Configuration = {
    adapter: (name: string) => store.adapterFor(name),
    clients: [
      ...config.clients.map((c) => ({
        client_id: c.client_id,
        client_secret: c.client_secret,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: c.token_endpoint_auth_method,
        id_token_signed_response_alg: 'ES256',
        scope: 'openid profile email',
      })),
      ...config.adminClients.map((c) => ({
        client_id: c.client_id,
        client_secret: c.client_secret,
        redirect_uris: [],
        response_types: [],
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      })),
    ],
    jwks: { keys: signingKeys as unknown as Record<string, unknown>[] },
    cookies: { keys: cookieKeys },
    scopes: ['openid', 'profile', 'email'],
    claims: {
      // Custom claims as a Cloudentity workspace would map them: always released with `openid`.
      openid: ['sub', 'organization_id', 'organization_name', 'groups', 'roles'],
      profile: ['name', 'given_name', 'family_name'],
      email: ['email', 'email_verified'],
    },
    // Scope-requested claims go into the ID token too, as Cloudentity does for configured claims.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    pkce: { required: () => true },
    routes: ROUTES,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      ClientCredentials: 600,
      IdToken: 3600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
      RefreshToken: 8 * 3600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      userinfo: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) =>
          Promise.resolve(token.clientId === client.clientId),
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: KoaContextWithOIDC, form: string) => {
          ctx.type = 'html';
          ctx.body = renderMessagePage('Sign out', 'Sign out of the dev IdP?').replace(
            '</div></main>',
            `${form}<p><button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button> ` +
              `<button type="submit" form="op.logoutForm">No, stay signed in</button></p></div></main>`,
          );
          return Promise.resolve();
        },
        postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => {
          ctx.type = 'html';
          ctx.body = renderMessagePage('Signed out', 'You are signed out of the dev IdP.');
          return Promise.resolve();
        },
      },
      resourceIndicators: {
        enabled: true,
        // Only the admin clients get JWT access tokens for a resource; the code-flow clients keep
        // opaque tokens for userinfo.
        defaultResource: (_ctx: unknown, client: { clientId: string }, oneOf?: string[]) =>
          Promise.resolve(oneOf ?? (rolesByClient.has(client.clientId) ? config.adminResource : undefined)),
        useGrantedResource: () => Promise.resolve(false),
        getResourceServerInfo: (_ctx: unknown, resource: string, client: { clientId: string }) => {
          if (!rolesByClient.has(client.clientId)) {
            return Promise.reject(new errors.InvalidTarget('this client may not request a resource'));
          }
          return Promise.resolve({
            scope: '',
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } },
          });
        },
      },
    },
    interactions: { url: (_ctx, interaction) => `${base}/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => {
      const account = directory.find(sub);
      if (!account) return Promise.resolve(undefined);
      return Promise.resolve({ accountId: account.sub, claims: () => accountClaims(account) });
    },
    // Consent is automatic (a trusted first-party client): the grant covers every requested scope.
    loadExistingGrant: async (ctx) => {
      const { client, session } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const { Grant } = ctx.oidc.provider;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      let grant = grantId ? await Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== session.accountId || grant.clientId !== client.clientId) {
        grant = new Grant({ clientId: client.clientId, accountId: session.accountId });
      }
      const scopes = [...ctx.oidc.requestParamOIDCScopes].join(' ');
      if (scopes) grant.addOIDCScope(scopes);
      await grant.save();
      return grant;
    },
    extraTokenClaims: (_ctx, token) => {
      const roles =
        token.kind === 'ClientCredentials' && token.clientId ? rolesByClient.get(token.clientId) : undefined;
      return Promise.resolve(roles ? { roles: [...roles] } : undefined);
    },
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = renderMessagePage('Sign-in error', { ...out });
    },
  };

  const provider = new Provider(issuer, configuration);
  enforceRegisteredAuthMethod(provider);
  provider.on('server_error', (...args: unknown[]) => log(`server error: ${(args[1] as Error)?.message ?? 'unknown'}`));
  const providerCallback = provider.callback();

  const interactionPath = new RegExp(`^${base}/interaction/([A-Za-z0-9_-]+)(/abort)?$`);

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string, abort: boolean): Promise<void> {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      send(
        res,
        400,
        'text/html; charset=utf-8',
        renderMessagePage('Sign-in expired', 'This sign-in request has expired or its cookie is missing. Start again.'),
      );
      return;
    }
    if (details.uid !== uid) {
      send(res, 400, 'text/html; charset=utf-8', renderMessagePage('Sign-in error', 'Interaction mismatch.'));
      return;
    }
    const clientId = typeof details.params.client_id === 'string' ? details.params.client_id : '';

    if (req.method === 'POST' && abort) {
      log(`sign-in cancelled for client ${clientId}`);
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      return;
    }

    if (details.prompt.name === 'consent') {
      // Normally unreachable (loadExistingGrant grants everything); covers prompt=consent.
      const accountId = details.session?.accountId;
      if (!accountId) throw new Error('consent without a signed-in account');
      const grant = details.grantId
        ? ((await provider.Grant.find(details.grantId)) ?? new provider.Grant({ clientId, accountId }))
        : new provider.Grant({ clientId, accountId });
      const scope = typeof details.params.scope === 'string' ? details.params.scope : 'openid';
      grant.addOIDCScope(scope);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }

    const page = (status: number, error?: string) =>
      send(
        res,
        status,
        'text/html; charset=utf-8',
        renderLoginPage({
          action: `${base}/interaction/${uid}`,
          abortAction: `${base}/interaction/${uid}/abort`,
          clientId,
          workspace: `${config.tenant}/${config.workspace}`,
          accounts: directory.list(),
          error,
        }),
      );

    if (req.method === 'GET') {
      page(200);
      return;
    }
    if (req.method !== 'POST') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    const form = await readForm(req);
    const sub = form.get('account') ?? '';
    const account = directory.find(sub);
    if (!account) {
      page(400, `Unknown developer "${sub}". Pick one of the list.`);
      return;
    }
    log(`signed in ${account.sub} (${account.organization_id ?? 'no organisation'}) for client ${clientId}`);
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: account.sub, remember: false } },
      { mergeWithLastSubmission: false },
    );
  }

  routing.handle = async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://dev-idp.invalid');
    const { pathname } = url;
    if (pathname === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, 200, 'application/json', '{"status":"ok"}');
      return;
    }
    if (pathname === '/' && req.method === 'GET') {
      send(
        res,
        200,
        'text/html; charset=utf-8',
        renderMessagePage('Dev IdP', {
          Issuer: issuer,
          Discovery: `${issuer}/.well-known/openid-configuration`,
          Developers: directory
            .list()
            .map((a) => `${a.name} <${a.email}> (${a.organization_name ?? 'no organisation'})`)
            .join('; '),
        }),
      );
      return;
    }
    const match = interactionPath.exec(pathname);
    if (match) {
      await interaction(req, res, match[1], match[2] !== undefined);
      return;
    }
    if (pathname === base || pathname.startsWith(`${base}/`)) {
      const original = req.url ?? '/';
      // Mount the provider under the tenant/workspace prefix: it computes its URLs from originalUrl.
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = original;
      const rest = original.slice(base.length);
      req.url = rest.startsWith('/') ? rest : `/${rest}`;
      currentRequest.run(req, () => providerCallback(req, res));
      return;
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };

  return {
    issuer,
    port,
    loginUrl: `${issuer}${ROUTES.authorization}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
