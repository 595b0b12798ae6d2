import type {
  AuditCheckpoint,
  AuditEventPage,
  AuditEventRecord,
  CheckpointState,
  FullVerifyOverdue,
  RecordedFullVerify,
  SignInOverview,
} from '@app/audit';
import { maskSecrets } from '@app/common';
import type { Developer, OrganisationLink } from '@app/developers';
import type { StoredProfile } from '@app/profiles';
import type { ConsoleSession } from '../console-session.service.js';
import { chartBox, FAILURE_COLOURS, SUCCESS_COLOUR, type ChartSeries } from './chart.js';
import { Html, html, layout } from './layout.js';

const when = (d: Date | string | null) => (d ? new Date(d).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '–');

/** Sign-ins per hour as chart series: succeeded, then each failure reason by its total. */
export function overviewSeries(o: SignInOverview): ChartSeries[] {
  const reasons = new Map<string, number>();
  for (const h of o.hours) for (const [r, n] of Object.entries(h.failed)) reasons.set(r, (reasons.get(r) ?? 0) + n);
  const ordered = [...reasons.entries()].sort((a, b) => b[1] - a[1]).map(([r]) => r);
  return [
    { label: 'succeeded', colour: SUCCESS_COLOUR, values: o.hours.map((h) => h.succeeded) },
    ...ordered.map((reason, i) => ({
      label: `failed: ${reason}`,
      colour: FAILURE_COLOURS[Math.min(i, FAILURE_COLOURS.length - 1)] ?? '#868e96',
      values: o.hours.map((h) => h.failed[reason] ?? 0),
    })),
  ];
}

/** The events table of the events page and a developer's login history (same columns). */
function eventsTable(rows: Html | Html[]): Html {
  return html`<table id="events">
    <thead>
      <tr>
        <th>Id</th>
        <th>Time (UTC)</th>
        <th>Type</th>
        <th>Outcome</th>
        <th>Reason</th>
        <th>Organisation</th>
        <th>IP</th>
        <th>Developer</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${rows}
    </tbody>
  </table>`;
}

export interface ChainStatus {
  sealingLagSeconds: number;
  /** The newest recorded full verify (`audit.verified`), from any replica; `trusted` when it carries this broker's proof. */
  lastVerify: RecordedFullVerify | null;
  /** The newest signed checkpoint of the chain. */
  lastCheckpoint: AuditCheckpoint | null;
  /** Checkpoints stopped here, or overdue anywhere (AuditService.checkpointState). */
  checkpointState?: CheckpointState | null;
  /** No trusted full verify completed for too long (AuditService.fullVerifyState). */
  fullVerifyOverdue?: FullVerifyOverdue | null;
}

/** That the full verify is overdue (its lock held elsewhere, or failing); nothing when it is not. */
function fullVerifyOverdueLine(o: FullVerifyOverdue | null): Html | string {
  if (!o) return '';
  const since = o.lastCompletedAt ? html`since ${when(o.lastCompletedAt)}` : html`since the oldest retained event`;
  return html`<div id="full-verify-overdue">
    <span class="bad">Full verify overdue</span>: none has completed ${since} (${Math.floor(o.waitingSeconds / 3600)} h,
    limit ${o.limitHours} h); its lock may be held elsewhere
  </div>`;
}

/** Why the checkpoints stopped here, that they are overdue, or that they passed over junk lately; nothing when none. */
function checkpointStateLine(state: CheckpointState | null): Html | string {
  if (state?.checkpoints === 'stopped') {
    const r = state.checkpointProblem;
    const range = r.last_seq ? ` (seq ${r.first_seq}–${r.last_seq}, key ${r.kid})` : '';
    return html`<div id="checkpoints-stopped">
      <span class="bad">Checkpoints stopped</span>: the newest checkpoint${range} ${r.reason}
    </div>`;
  }
  if (state?.checkpoints === 'overdue') {
    const o = state.checkpointsOverdue;
    return html`<div id="checkpoints-overdue">
      <span class="bad">Checkpoints overdue</span>: the events after seq ${o.uncoveredAfterSeq} have waited
      ${o.waitingSeconds} s for a signed checkpoint
    </div>`;
  }
  if (state?.checkpoints === 'passed_over') {
    const p = state.checkpointsPassedOver;
    return html`<div id="checkpoints-passed-over">
      <span class="bad">Untrusted checkpoints passed over</span> at ${when(p.at)}: ${p.count} checkpoint(s), seq
      ${p.first_seq}–${p.last_seq}, appended outside the broker (the newest ${p.reason}); checkpoints go on past them
    </div>`;
  }
  return '';
}

/** The newest recorded full verify; one without this broker's proof (forged, or signing off) is not shown as a verify. */
function lastVerifyLine(verify: ChainStatus['lastVerify']): Html {
  if (!verify) return html`<span class="muted">no full verify recorded yet</span>`;
  if (!verify.trusted) {
    return html`<span class="bad">not trusted</span>: the newest record (${verify.status} at ${when(verify.at)}) carries
      no proof from this broker's audit signing key`;
  }
  return html`<span class="${verify.status === 'intact' ? 'ok' : 'bad'}">${verify.status}</span> at ${when(verify.at)}`;
}

export function overviewPage(session: ConsoleSession, o: SignInOverview, chain: ChainStatus): string {
  const series = overviewSeries(o);
  const top = (title: string, param: string, rows: SignInOverview['topOrganisations']) =>
    html` <div class="card">
      <h2>${title}</h2>
      <table>
        <thead>
          <tr>
            <th>${param === 'organization' ? 'Organisation' : 'Client address'}</th>
            <th>Failed</th>
          </tr>
        </thead>
        <tbody>
          ${
            rows.length
              ? rows.map(
                  (r) =>
                    html`<tr>
                      <td>
                        <a
                          href="/console/events?outcome=failure&type=login.failed&${param}=${encodeURIComponent(r.key)}"
                          >${r.key}</a
                        >
                      </td>
                      <td class="num">${r.count}</td>
                    </tr>`,
                )
              : html`<tr>
                  <td colspan="2" class="muted">none</td>
                </tr>`
          }
        </tbody>
      </table>
    </div>`;
  return layout(
    'Overview',
    session,
    '/console',
    html` <div class="cards">
        <div class="card">
          <div class="muted">Sign-ins, last 7 days</div>
          <div class="n" id="total-succeeded">${o.totals.succeeded}</div>
          <div class="ok">succeeded</div>
        </div>
        <div class="card">
          <div class="muted">Failed, last 7 days</div>
          <div class="n" id="total-failed">${o.totals.failed}</div>
          <div class="bad">failed</div>
        </div>
        <div class="card" id="chain">
          <div class="muted">Audit chain</div>
          <div>${lastVerifyLine(chain.lastVerify)}</div>
          ${fullVerifyOverdueLine(chain.fullVerifyOverdue ?? null)}
          <div id="checkpoint">
            ${chain.lastCheckpoint ? html`Last signed checkpoint: seq ${chain.lastCheckpoint.first_seq}–${chain.lastCheckpoint.last_seq}${chain.lastCheckpoint.created_at ? html` at ${when(chain.lastCheckpoint.created_at)}` : ''} (key ${chain.lastCheckpoint.kid})` : html`<span class="muted">no signed checkpoint yet</span>`}
          </div>
          ${checkpointStateLine(chain.checkpointState ?? null)}
          <div>Sealing lag: ${chain.sealingLagSeconds.toFixed(1)} s</div>
          <form method="post" action="/console/verify">
            <input type="hidden" name="_csrf" value="${session.csrfToken}" /><button type="submit">Verify now</button>
          </form>
        </div>
      </div>
      <h2>Sign-ins per hour (UTC), ${when(o.since)} to ${when(o.until)}</h2>
      ${chartBox(
        'signins',
        o.hours.map((h) => h.hour),
        series,
        { step: 3600, title: 'Sign-ins per hour', attributes: { 'data-since': o.since, 'data-until': o.until } },
      )}
      <div class="cards">
        ${top('Top failing organisations (24 h)', 'organization', o.topOrganisations)}${top('Top failing client addresses (24 h)', 'ip', o.topAddresses)}
      </div>
      <details>
        <summary>Hourly numbers</summary>
        <table>
          <thead>
            <tr>
              <th>Hour</th>
              ${series.map((s) => html`<th>${s.label}</th>`)}
            </tr>
          </thead>
          <tbody>
            ${o.hours
              .filter((_, i) => series.some((s) => (s.values[i] ?? 0) > 0))
              .map(
                (h) =>
                  html`<tr>
                    <td>${when(h.hour)}</td>
                    <td class="num">${h.succeeded}</td>
                    ${series.slice(1).map((s) => html`<td class="num">${h.failed[s.label.slice(8)] ?? 0}</td>`)}
                  </tr>`,
              )}
          </tbody>
        </table>
      </details>`,
    { charts: true },
  );
}

/** The filters of /api/audit/events, as the console's form keeps them. */
export const EVENT_FILTERS = [
  'type',
  'outcome',
  'developer',
  'email',
  'profile',
  'organization',
  'ip',
  'since',
  'until',
  'q',
  'order',
  'limit',
] as const;
export type EventFilterValues = Partial<Record<(typeof EVENT_FILTERS)[number], string>>;

function queryString(values: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v) q.set(k, v);
  return q.toString();
}

function eventRow(e: AuditEventRecord): Html {
  const dev = e.developer_id
    ? html`<a href="/console/developers/${e.developer_id}">${e.developer_id.slice(0, 8)}</a>`
    : '';
  return html`<tr class="event" data-id="${e.id}">
    <td class="num">${e.id}</td>
    <td>${when(e.occurred_at)}</td>
    <td>${e.type}</td>
    <td class="${e.outcome === 'success' ? 'ok' : 'bad'}">${e.outcome}</td>
    <td>${e.reason ?? ''}</td>
    <td>${e.organisation_id ?? ''}</td>
    <td>${e.ip ?? ''}</td>
    <td>${dev}</td>
    <td>
      <details>
        <summary>record</summary>
        <pre>${JSON.stringify(e, null, 2)}</pre>
      </details>
    </td>
  </tr>`;
}

export function eventsPage(session: ConsoleSession, filters: EventFilterValues, page: AuditEventPage): string {
  const input = (name: string, label: string, placeholder = '') =>
    html`<label
      >${label}<input
        name="${name}"
        value="${filters[name as keyof EventFilterValues] ?? ''}"
        placeholder="${placeholder}"
    /></label>`;
  const select = (name: 'outcome' | 'order', options: string[]) =>
    html`<label
      >${name}<select name="${name}">
        ${options.map((o) => html`<option value="${o}" ${new Html(filters[name] === o ? ' selected' : '')}>${o || 'any'}</option>`)}
      </select></label
    >`;
  const base = { ...filters, cursor: undefined };
  const exportLink = (format: string) => `/console/events/export?${queryString({ ...base, limit: undefined, format })}`;
  return layout(
    'Events',
    session,
    '/console/events',
    html` <form class="filters" method="get" action="/console/events">
        ${input('type', 'type', 'login.*')}${select('outcome', ['', 'success', 'failure'])}${input('organization', 'organisation')}
        ${input('ip', 'IP or CIDR')}${input('developer', 'developer id')}${input('email', 'email')}${input('profile', 'profile')}
        ${input('since', 'since', '2026-12-01T00:00:00Z')}${input('until', 'until')}${input('q', 'keywords')}${select('order', ['', 'asc', 'desc'])}${input('limit', 'per page', '50')}
        <button type="submit">Filter</button>
        <a class="button" href="${exportLink('ndjson')}" id="export-ndjson">Export NDJSON</a>
        <a class="button" href="${exportLink('csv')}" id="export-csv">Export CSV</a>
      </form>
      ${eventsTable(
        page.data.length
          ? page.data.map(eventRow)
          : html`<tr>
              <td colspan="9" class="muted">No events match.</td>
            </tr>`,
      )}
      <div class="pager">
        ${page.next_cursor && page.data.length ? html`<a class="button" id="next-page" href="/console/events?${queryString({ ...base, cursor: page.next_cursor })}">Next page</a>` : ''}
      </div>`,
  );
}

export function developersPage(
  session: ConsoleSession,
  email: string,
  developers: Developer[],
  next: string | null,
): string {
  return layout(
    'Developers',
    session,
    '/console/developers',
    html` <form class="filters" method="get" action="/console/developers">
        <label>email<input name="email" value="${email}" /></label><button type="submit">Find</button>
      </form>
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Email</th>
            <th>Organisation</th>
            <th>Status</th>
            <th>Last login</th>
            <th>Logins</th>
          </tr>
        </thead>
        <tbody>
          ${developers.map(
            (d) =>
              html`<tr>
                <td><a href="/console/developers/${d.id}">${d.name ?? d.subject ?? '(erased)'}</a></td>
                <td>${d.email ?? ''}</td>
                <td>${d.organisationName ?? d.organisationId ?? ''}</td>
                <td class="${d.status === 'active' ? 'ok' : 'bad'}">${d.status}</td>
                <td>${when(d.lastLoginAt)}</td>
                <td class="num">${d.loginCount}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${next ? html`<div class="pager"><a class="button" href="/console/developers?${queryString({ email, cursor: next })}">Next page</a></div>` : ''}`,
  );
}

export function developerPage(
  session: ConsoleSession,
  d: Developer,
  link: OrganisationLink | null,
  logins: AuditEventPage,
  perDay: { day: string; ok: number; failed: number }[],
): string {
  const admin = session.roles.includes('admin');
  const action = d.status === 'active' ? 'block' : 'unblock';
  return layout(
    d.name ?? d.subject ?? '(erased)',
    session,
    '/console/developers',
    html` <table class="identity">
        <tbody>
          <tr>
            <th>Id</th>
            <td>${d.id}</td>
          </tr>
          <tr>
            <th>Issuer / subject</th>
            <td>${d.issuer} · ${d.subject ?? '(erased)'}</td>
          </tr>
          <tr>
            <th>Email</th>
            <td>${d.email ?? ''} ${d.emailVerified ? '' : '(unverified)'}</td>
          </tr>
          <tr>
            <th>Status</th>
            <td id="status" class="${d.status === 'active' ? 'ok' : 'bad'}">${d.status}</td>
          </tr>
          <tr>
            <th>Organisation</th>
            <td id="organisation">
              ${d.organisationId ? html`${d.organisationName ?? d.organisationId} <span class="muted">(${d.organisationId})</span>` : html`<span class="muted">none in the ID token</span>`}
            </td>
          </tr>
          <tr>
            <th>Portal placement</th>
            <td id="placement">
              ${
                link
                  ? html`portal organisation
                      <code>${link.portalOrgId}</code
                      >${link.portalTeamId ? html`, team <code>${link.portalTeamId}</code>` : ' (no team)'}
                      <span class="muted">(linked ${when(link.createdAt)})</span>`
                  : html`<span class="muted"
                      >${d.organisationId ? 'no portal organisation linked to this organisation (organisation sync off, or not yet run)' : 'no organisation, so no portal organisation'}</span
                    >`
              }
              <br />${d.portalUserId ? html`portal user <code>${d.portalUserId}</code>` : html`<span class="muted">not in the portal yet</span>`}
            </td>
          </tr>
          <tr>
            <th>Logins</th>
            <td>${d.loginCount} · first ${when(d.firstLoginAt)} · last ${when(d.lastLoginAt)}</td>
          </tr>
        </tbody>
      </table>
      ${admin ? html`<form method="post" action="/console/developers/${d.id}/${action}"><input type="hidden" name="_csrf" value="${session.csrfToken}" /><button type="submit" id="${action}" class="${action === 'block' ? 'danger' : ''}">${action === 'block' ? 'Block developer' : 'Unblock developer'}</button></form>` : ''}
      <h2>Logins per day (last 30 days)</h2>
      ${chartBox(
        'logins-per-day',
        perDay.map((p) => p.day),
        [
          { label: 'succeeded', colour: SUCCESS_COLOUR, values: perDay.map((p) => p.ok) },
          { label: 'failed', colour: FAILURE_COLOURS[0] ?? '#b42318', values: perDay.map((p) => p.failed) },
        ],
        { height: 140, step: 86_400, title: 'Logins per day' },
      )}
      <h2>Login history</h2>
      ${eventsTable(logins.data.map(eventRow))}`,
    { charts: true },
  );
}

export function profilesPage(session: ConsoleSession, profiles: StoredProfile[]): string {
  return layout(
    'Profiles',
    session,
    '/console/profiles',
    html`<table>
      <thead>
        <tr>
          <th>ID</th>
          <th>Name</th>
          <th>Action</th>
          <th>Provider</th>
          <th>Version</th>
          <th>Updated</th>
        </tr>
      </thead>
      <tbody>
        ${profiles.map(
          (p) =>
            html`<tr>
              <td><a href="/console/profiles/${encodeURIComponent(p.profile.ID)}">${p.profile.ID}</a></td>
              <td>${p.profile.Name}</td>
              <td>${p.profile.ActionType}</td>
              <td>${p.profile.ProviderName}</td>
              <td class="num">${p.version}</td>
              <td>${when(p.updatedAt)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`,
  );
}

export function profilePage(session: ConsoleSession, p: StoredProfile): string {
  return layout(
    `Profile ${p.profile.ID}`,
    session,
    '/console/profiles',
    html`<p class="muted">Read-only; secrets are masked. Version ${p.version}, updated ${when(p.updatedAt)}.</p>
      <pre id="profile">${JSON.stringify(maskSecrets(p.profile), null, 2)}</pre>`,
  );
}
