import { readFileSync } from 'node:fs';

/** One developer as the dev IdP knows it: exactly the claims it can release. */
export interface DevAccount {
  sub: string;
  email: string;
  email_verified: boolean;
  name: string;
  given_name?: string;
  family_name?: string;
  /** Cloudentity Organization id (absent for a developer outside any organisation). */
  organization_id?: string;
  organization_name?: string;
  groups: string[];
  /** Broker roles (`broker:admin`, `broker:auditor`) for security staff signing in to the console. */
  roles?: string[];
}

/**
 * The seeded developers: two organisations (acme, globex), one developer with an unverified
 * email (dave) and one outside any organisation (frank).
 */
export const SEEDED_ACCOUNTS: readonly DevAccount[] = Object.freeze([
  {
    sub: 'alice',
    email: 'alice@acme.example',
    email_verified: true,
    name: 'Alice Anderson',
    given_name: 'Alice',
    family_name: 'Anderson',
    organization_id: 'acme',
    organization_name: 'Acme Corp',
    groups: ['developers', 'acme-admins'],
  },
  {
    sub: 'bob',
    email: 'bob@acme.example',
    email_verified: true,
    name: 'Bob Baker',
    given_name: 'Bob',
    family_name: 'Baker',
    organization_id: 'acme',
    organization_name: 'Acme Corp',
    groups: ['developers'],
  },
  {
    sub: 'carol',
    email: 'carol@globex.example',
    email_verified: true,
    name: 'Carol Chen',
    given_name: 'Carol',
    family_name: 'Chen',
    organization_id: 'globex',
    organization_name: 'Globex Inc',
    groups: ['developers', 'globex-api-team'],
  },
  {
    sub: 'dave',
    email: 'dave@globex.example',
    email_verified: false,
    name: 'Dave Davis',
    given_name: 'Dave',
    family_name: 'Davis',
    organization_id: 'globex',
    organization_name: 'Globex Inc',
    groups: ['developers'],
  },
  {
    sub: 'erin',
    email: 'erin@globex.example',
    email_verified: true,
    name: 'Erin Evans',
    given_name: 'Erin',
    family_name: 'Evans',
    organization_id: 'globex',
    organization_name: 'Globex Inc',
    groups: ['developers', 'globex-admins'],
  },
  {
    sub: 'frank',
    email: 'frank@freelance.example',
    email_verified: true,
    name: 'Frank Foster',
    given_name: 'Frank',
    family_name: 'Foster',
    groups: [],
  },
]);

function optionalString(record: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new Error(`${where}: ${key} must be a non-empty string`);
  return value;
}

/** Validates one account given in DEV_IDP_USERS or DEV_IDP_USERS_FILE; fills the optional claims. */
export function parseAccount(input: unknown, where: string): DevAccount {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error(`${where}: each account must be a JSON object`);
  }
  const record = input as Record<string, unknown>;
  const sub = optionalString(record, 'sub', where);
  const email = optionalString(record, 'email', where);
  if (!sub) throw new Error(`${where}: sub is required`);
  if (!email) throw new Error(`${where}: email is required (account ${sub})`);
  const verified = record.email_verified;
  if (verified !== undefined && typeof verified !== 'boolean') {
    throw new Error(`${where}: email_verified must be a boolean (account ${sub})`);
  }
  const groups = record.groups ?? [];
  if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) {
    throw new Error(`${where}: groups must be an array of strings (account ${sub})`);
  }
  const given = optionalString(record, 'given_name', where);
  const family = optionalString(record, 'family_name', where);
  const account: DevAccount = {
    sub,
    email,
    email_verified: verified ?? true,
    name: optionalString(record, 'name', where) ?? ([given, family].filter(Boolean).join(' ') || email),
    groups: [...(groups as string[])],
  };
  if (given) account.given_name = given;
  if (family) account.family_name = family;
  const roles = record.roles;
  if (roles !== undefined) {
    if (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string')) {
      throw new Error(`${where}: roles must be an array of strings (account ${sub})`);
    }
    account.roles = [...(roles as string[])];
  }
  const orgId = optionalString(record, 'organization_id', where);
  const orgName = optionalString(record, 'organization_name', where);
  if (orgId) account.organization_id = orgId;
  if (orgId || orgName) account.organization_name = orgName ?? orgId;
  return account;
}

/** Parses a JSON array of accounts (the DEV_IDP_USERS format). */
export function parseAccounts(json: string, where: string): DevAccount[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`${where}: not valid JSON`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${where}: must be a JSON array of accounts`);
  return parsed.map((item, i) => parseAccount(item, `${where}[${i}]`));
}

export interface AccountDirectoryOptions {
  /** Accounts given at start-up (DEV_IDP_USERS); they override seeded ones with the same sub. */
  extra?: DevAccount[];
  /** A JSON file re-read on every lookup (DEV_IDP_USERS_FILE); it overrides everything else. */
  usersFile?: string;
  /** Told when the users file cannot be used (it is then ignored for that lookup). */
  onFileError?: (message: string) => void;
}

/**
 * Every account the IdP can sign in: seeded, then DEV_IDP_USERS, then DEV_IDP_USERS_FILE (read
 * afresh each time, so a test can change a developer between two logins without a restart).
 */
export class AccountDirectory {
  constructor(private readonly options: AccountDirectoryOptions = {}) {}

  /** Reads the users file strictly, so a broken file stops the IdP at start-up. A missing file is fine. */
  checkUsersFile(): void {
    this.readUsersFile(true);
  }

  list(): DevAccount[] {
    const bySub = new Map<string, DevAccount>();
    for (const account of [...SEEDED_ACCOUNTS, ...(this.options.extra ?? []), ...this.readUsersFile(false)]) {
      bySub.set(account.sub, account);
    }
    return [...bySub.values()];
  }

  find(sub: string): DevAccount | undefined {
    return this.list().find((a) => a.sub === sub);
  }

  private readUsersFile(strict: boolean): DevAccount[] {
    const file = this.options.usersFile;
    if (!file) return [];
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      return parseAccounts(text, 'DEV_IDP_USERS_FILE');
    } catch (err) {
      if (strict) throw err;
      this.options.onFileError?.((err as Error).message);
      return [];
    }
  }
}

/** The claims of an account, as oidc-provider filters them by scope (absent values left out). */
export function accountClaims(account: DevAccount): Record<string, unknown> & { sub: string } {
  const claims: Record<string, unknown> & { sub: string } = {
    sub: account.sub,
    email: account.email,
    email_verified: account.email_verified,
    name: account.name,
    groups: [...account.groups],
  };
  if (account.given_name !== undefined) claims.given_name = account.given_name;
  if (account.family_name !== undefined) claims.family_name = account.family_name;
  if (account.organization_id !== undefined) claims.organization_id = account.organization_id;
  if (account.organization_name !== undefined) claims.organization_name = account.organization_name;
  if (account.roles !== undefined) claims.roles = [...account.roles];
  return claims;
}
