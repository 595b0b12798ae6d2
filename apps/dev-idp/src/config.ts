import { parseAccounts, type DevAccount } from './accounts.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post';

/** A confidential web client doing the authorization code flow (with PKCE S256). */
export interface DevIdpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  token_endpoint_auth_method: ClientAuthMethod;
  post_logout_redirect_uris?: string[];
}

/** A machine client of the client_credentials grant whose JWT access tokens carry `roles`. */
export interface DevIdpAdminClient {
  client_id: string;
  client_secret: string;
  roles: string[];
}

export interface DevIdpConfig {
  /** Address the HTTP server binds to. */
  host: string;
  /** 0 picks a free port (the issuer then carries the port actually bound). */
  port: number;
  /** Host name used in the issuer, as clients reach the IdP. */
  publicHost: string;
  tenant: string;
  workspace: string;
  dataDir: string;
  clients: DevIdpClient[];
  adminClients: DevIdpAdminClient[];
  /** Audience of admin tokens when the client sends no `resource` parameter. */
  adminResource: string;
  extraUsers: DevAccount[];
  usersFile?: string;
}

export const DEFAULT_CLIENT: DevIdpClient = Object.freeze({
  client_id: 'portal-sso-broker',
  client_secret: 'dev-secret-change-me',
  redirect_uris: [
    'http://localhost:3010/auth/1/openid-connect/callback',
    'http://localhost:3010/auth/demo/openid-connect/callback',
  ],
  token_endpoint_auth_method: 'client_secret_basic',
});

export const DEFAULT_ADMIN_RESOURCE = 'urn:portal-sso-broker:admin';

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

function stringList(value: unknown, where: string, allowEmpty: boolean): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
    throw new Error(`${where} must be an array of non-empty strings`);
  }
  if (!allowEmpty && value.length === 0) throw new Error(`${where} must not be empty`);
  return [...(value as string[])];
}

function absoluteUrls(values: string[], where: string): string[] {
  for (const v of values) {
    if (!URL.canParse(v) || new URL(v).hash) throw new Error(`${where}: ${v} is not an absolute URL without fragment`);
  }
  return values;
}

/** Parses DEV_IDP_CLIENTS: a JSON array of {client_id, client_secret, redirect_uris, token_endpoint_auth_method?}. */
export function parseClients(json: string): DevIdpClient[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('DEV_IDP_CLIENTS: not valid JSON');
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new Error('DEV_IDP_CLIENTS must be a non-empty JSON array');
  const seen = new Set<string>();
  return parsed.map((item, i): DevIdpClient => {
    const where = `DEV_IDP_CLIENTS[${i}]`;
    if (typeof item !== 'object' || item === null) throw new Error(`${where} must be an object`);
    const c = item as Record<string, unknown>;
    if (typeof c.client_id !== 'string' || !c.client_id) throw new Error(`${where}.client_id is required`);
    if (typeof c.client_secret !== 'string' || !c.client_secret) throw new Error(`${where}.client_secret is required`);
    if (seen.has(c.client_id)) throw new Error(`${where}: duplicate client_id ${c.client_id}`);
    seen.add(c.client_id);
    const method = c.token_endpoint_auth_method ?? 'client_secret_basic';
    if (!AUTH_METHODS.includes(method as ClientAuthMethod)) {
      throw new Error(`${where}.token_endpoint_auth_method must be one of ${AUTH_METHODS.join(', ')}`);
    }
    const client: DevIdpClient = {
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: absoluteUrls(stringList(c.redirect_uris, `${where}.redirect_uris`, false), where),
      token_endpoint_auth_method: method as ClientAuthMethod,
    };
    if (c.post_logout_redirect_uris !== undefined) {
      client.post_logout_redirect_uris = absoluteUrls(
        stringList(c.post_logout_redirect_uris, `${where}.post_logout_redirect_uris`, true),
        where,
      );
    }
    return client;
  });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port > 65535) {
    throw new Error(`DEV_IDP_PORT must be a port number (0 for any free port), got ${value}`);
  }
  return port;
}

function slug(name: string, value: string): string {
  if (!SLUG.test(value)) throw new Error(`${name} must be letters, digits, '-' or '_', got ${value}`);
  return value;
}

/** Builds the dev IdP configuration from its environment variables (see apps/dev-idp/README.md). */
export function configFromEnv(env: Record<string, string | undefined>): DevIdpConfig {
  const get = (name: string, fallback: string): string => {
    const value = env[name];
    return value === undefined || value === '' ? fallback : value;
  };
  const clients = env.DEV_IDP_CLIENTS ? parseClients(env.DEV_IDP_CLIENTS) : [{ ...DEFAULT_CLIENT }];
  const adminClients: DevIdpAdminClient[] = [
    {
      client_id: 'broker-admin',
      client_secret: get('DEV_IDP_ADMIN_SECRET', 'dev-admin-secret'),
      roles: ['broker:admin'],
    },
    {
      client_id: 'broker-auditor',
      client_secret: get('DEV_IDP_AUDITOR_SECRET', 'dev-auditor-secret'),
      roles: ['broker:auditor'],
    },
  ];
  for (const admin of adminClients) {
    if (clients.some((c) => c.client_id === admin.client_id)) {
      throw new Error(`DEV_IDP_CLIENTS: client_id ${admin.client_id} is reserved for the admin API client`);
    }
  }
  const resource = get('DEV_IDP_ADMIN_RESOURCE', DEFAULT_ADMIN_RESOURCE);
  if (!URL.canParse(resource)) throw new Error('DEV_IDP_ADMIN_RESOURCE must be an absolute URI');
  return {
    host: get('DEV_IDP_HOST', '127.0.0.1'),
    port: parsePort(get('DEV_IDP_PORT', '3020')),
    publicHost: get('DEV_IDP_PUBLIC_HOST', 'localhost'),
    tenant: slug('DEV_IDP_TENANT', get('DEV_IDP_TENANT', 'dev')),
    workspace: slug('DEV_IDP_WORKSPACE', get('DEV_IDP_WORKSPACE', 'developers')),
    dataDir: get('DEV_IDP_DATA_DIR', '.data/dev-idp'),
    clients,
    adminClients,
    adminResource: resource,
    extraUsers: env.DEV_IDP_USERS ? parseAccounts(env.DEV_IDP_USERS, 'DEV_IDP_USERS') : [],
    usersFile: env.DEV_IDP_USERS_FILE || undefined,
  };
}
