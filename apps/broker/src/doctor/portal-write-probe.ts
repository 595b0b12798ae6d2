import { randomBytes } from 'node:crypto';
import { isDomainError } from '@app/common';
import { tykBaseUrl, type BrokerConfig } from '@app/config';
import type { TykPortalClient } from '@app/tyk-portal';
import { request } from 'undici';
import { fail, pass, warn, type DoctorItem } from './doctor-report.js';

interface Raw {
  status: number;
  body: unknown;
}

/**
 * The few portal calls the write probe needs that the portal client does not make (create and
 * delete a user, delete a team or organisation, a list with a given page size, the raw status of
 * an SSO-key lookup). Kept here, beside the doctor, so the client stays the login's.
 */
class ProbeCalls {
  constructor(
    private readonly base: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  async send(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, auth = this.token): Promise<Raw> {
    const res = await request(`${this.base}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        authorization: auth,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.statusCode, body: parsed };
  }
}

const id = (v: unknown) => (typeof v === 'number' || typeof v === 'string' ? String(v) : '');
const intOrString = (v: string) => (/^\d{1,15}$/.test(v) ? Number(v) : v);
const field = (o: unknown, k: string): unknown =>
  o && typeof o === 'object'
    ? ((o as Record<string, unknown>)[k] ?? (o as Record<string, unknown>)[k.toLowerCase()])
    : undefined;

/**
 * `--write-probe`: creates a throwaway organisation, team and user in the portal, learns what no
 * public source settles (tyk-portal.md §E13: the Teams form on write, paging, the status of an
 * unknown SSO key) and removes them again, whatever happened.
 */
export async function writeProbe(
  config: BrokerConfig,
  portal: TykPortalClient,
  ssoCredential: string,
): Promise<DoctorItem[]> {
  const base = tykBaseUrl(config.tykApi.dashboard);
  if (base === null || config.portal.adminToken === '') {
    return [
      fail('Write probe', 'needs the portal address and TYK_PORTAL_ADMIN_TOKEN', 'configure both, then run it again'),
    ];
  }
  const calls = new ProbeCalls(base, config.portal.adminToken, config.portal.timeoutMs);
  const tag = `sso-broker-doctor-${randomBytes(4).toString('hex')}`;
  const items: DoctorItem[] = [];
  const cleanup: (() => Promise<Raw>)[] = [];
  try {
    const org = await portal.createOrganisation(tag);
    cleanup.unshift(() => calls.send('DELETE', `/portal-api/organisations/${encodeURIComponent(org.ID)}`));
    const team = await portal.createTeam(org.ID, `${tag} team`);
    cleanup.unshift(() =>
      calls.send(
        'DELETE',
        `/portal-api/organisations/${encodeURIComponent(org.ID)}/teams/${encodeURIComponent(team.ID)}`,
      ),
    );
    const created = await calls.send('POST', '/portal-api/users', {
      Email: `${tag}@example.invalid`,
      First: 'SSO broker',
      Last: 'doctor',
      Role: 'consumer-team-member',
      OrganisationID: intOrString(org.ID),
      Active: false,
      Provider: 'password',
    });
    const userId = id(field(created.body, 'ID'));
    if (created.status >= 300 || userId === '') {
      items.push(
        fail(
          'Write probe',
          `creating a user answered ${created.status}`,
          'the admin token must belong to a portal admin',
        ),
      );
      return items;
    }
    cleanup.unshift(() => calls.send('DELETE', `/portal-api/users/${encodeURIComponent(userId)}`));
    items.push(
      pass('Write probe', `created organisation ${org.ID}, team ${team.ID} and user ${userId} (removed afterwards)`),
    );

    // Teams on write: ids as strings first, then names; reads return names (§E1).
    const forms: [string, string][] = [
      ['ids (as strings)', team.ID],
      ['names', team.Name],
    ];
    const worked: string[] = [];
    for (const [form, value] of forms) {
      const put = await calls.send('PUT', `/portal-api/users/${encodeURIComponent(userId)}`, {
        Email: `${tag}@example.invalid`,
        First: 'SSO broker',
        Last: 'doctor',
        Role: 'consumer-team-member',
        OrganisationID: intOrString(org.ID),
        Teams: [value],
      });
      const read = await calls.send('GET', `/portal-api/users/${encodeURIComponent(userId)}`);
      const teams = field(read.body, 'Teams');
      const names = Array.isArray(teams)
        ? teams.map((t) => (typeof t === 'object' ? id(field(t, 'Name')) || id(field(t, 'ID')) : id(t)))
        : [];
      if (put.status < 300 && (names.includes(team.Name) || names.includes(team.ID))) worked.push(form);
    }
    items.push(
      worked.length > 0
        ? pass('Teams form', `the portal places a user in a team from Teams as ${worked.join(' and as ')}`)
        : fail(
            'Teams form',
            'neither team ids nor team names in Teams placed the user',
            'report the portal version: organisation sync cannot place users',
          ),
    );

    // Paging: does the portal honour per_page, and what does it cap it at?
    const one = await calls.send('GET', '/portal-api/users?per_page=1&page=1');
    const many = await calls.send('GET', '/portal-api/users?per_page=1000&page=1');
    const count = (r: Raw) => (Array.isArray(r.body) ? r.body.length : -1);
    items.push(
      count(one) === 1 || count(one) === 0
        ? pass(
            'Paging',
            `per_page=1 gives ${count(one)} item(s); per_page=1000 gives ${count(many)} (a smaller number is the portal's cap; the broker pages until an empty page)`,
          )
        : warn(
            'Paging',
            `per_page=1 gave ${count(one)} items: the portal ignores per_page`,
            'nothing to change; the broker pages until an empty page',
          ),
    );

    // The status of an unknown SSO key (§E3): anything 4xx but 401/403 means "not found".
    const unknown = await calls.send('GET', `/api/portal/developers/ssokey/${tag}-unknown`, undefined, ssoCredential);
    items.push(
      unknown.status >= 400 && unknown.status < 500 && unknown.status !== 401 && unknown.status !== 403
        ? pass('Unknown SSO key', `answered ${unknown.status}: read as "not found"`)
        : fail(
            'Unknown SSO key',
            `answered ${unknown.status}`,
            unknown.status === 401 || unknown.status === 403
              ? "set IdentityHandlerConfig.DashboardCredential to the portal's PORTAL_API_SECRET"
              : 'report the portal version: the broker cannot tell a new developer from a failure',
          ),
    );
  } catch (e) {
    items.push(
      fail(
        'Write probe',
        isDomainError(e) ? `${e.code}: ${e.message}` : String((e as Error).message ?? e),
        'the admin token must belong to a portal admin',
      ),
    );
  } finally {
    const leftovers: string[] = [];
    for (const undo of cleanup) {
      try {
        const res = await undo();
        if (res.status >= 300 && res.status !== 404) leftovers.push(String(res.status));
      } catch {
        leftovers.push('unreachable');
      }
    }
    if (leftovers.length > 0) {
      items.push(
        warn(
          'Write probe clean-up',
          `could not remove everything (${leftovers.join(', ')})`,
          `delete what is named ${tag} in the portal`,
        ),
      );
    }
  }
  return items;
}
