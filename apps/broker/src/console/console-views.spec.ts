import type { AuditService } from '@app/audit';
import { DomainError } from '@app/common';
import { statusForCode } from '../common/error-status.js';
import { safeReturnTo } from './console-session.service.js';
import { ConsoleViewsService } from './console-views.service.js';
import { ConsoleAssets } from './console-assets.js';
import { chartBox, stackedBars } from './views/chart.js';
import { CONSOLE_CSP, esc, html, layout } from './views/layout.js';
import { developerPage, overviewPage, overviewSeries } from './views/pages.js';

describe('console verify', () => {
  it("should say in the console's words that a full verify is already running, keeping its 409 code", async () => {
    const audit = {
      verify: () => Promise.reject(new DomainError('verify_running', 'A full verify … or use mode=routine.')),
    };
    const unused = null as never;
    const views = new ConsoleViewsService(audit as unknown as AuditService, unused, unused, unused, unused);
    const session = { subject: 's', name: 'Sam', roles: ['auditor' as const], csrfToken: 't' };
    const refused = await views.verifyChain(session).then(
      () => null,
      (e: unknown) => e as DomainError,
    );
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused?.code).toBe('verify_running');
    expect(statusForCode('verify_running')).toBe(409);
    expect(refused?.message).toMatch(/^A full verify of the audit log is already running/);
    expect(refused?.message).toContain('Audit chain card of the overview');
    expect(refused?.message).not.toContain('mode=routine');
  });
});

describe('console views', () => {
  it('should show the chain status from the recorded verify and the newest signed checkpoint', () => {
    const session = { subject: 's', name: 'Sam', roles: ['auditor' as const], csrfToken: 't' };
    const overview = {
      since: '2026-12-01T00:00:00.000Z',
      until: '2026-12-08T00:00:00.000Z',
      hours: [],
      totals: { succeeded: 0, failed: 0 },
      topOrganisations: [],
      topAddresses: [],
    };
    const checkpoint = {
      first_seq: '1001',
      last_seq: '2000',
      last_hash: 'a'.repeat(64),
      prev_checkpoint_hash: 'b'.repeat(64),
      event_count: '1000',
      kid: 'key-1',
      jws: 'x.y.z',
      created_at: '2026-12-06T10:00:00.000Z',
    };
    const page = overviewPage(session, overview, {
      sealingLagSeconds: 0.5,
      lastVerify: { at: new Date('2026-12-06T11:00:00.000Z'), status: 'broken', trusted: true },
      lastCheckpoint: checkpoint,
    });
    expect(page).toContain('<span class="bad">broken</span> at 2026-12-06 11:00:00Z');
    // A record without this broker's proof (forged with the runtime role, or signing off) is not shown as a verify.
    const forged = overviewPage(session, overview, {
      sealingLagSeconds: 0,
      lastVerify: { at: new Date('2026-12-06T12:00:00.000Z'), status: 'intact', trusted: false },
      lastCheckpoint: null,
    });
    expect(forged).toContain(
      '<span class="bad">not trusted</span>: the newest record (intact at 2026-12-06 12:00:00Z)',
    );
    expect(forged).not.toContain('<span class="ok">intact</span>');
    expect(page).toContain('seq 1001–2000 at 2026-12-06 10:00:00Z (key key-1)');
    const empty = overviewPage(session, overview, { sealingLagSeconds: 0, lastVerify: null, lastCheckpoint: null });
    expect(empty).toContain('no full verify recorded yet');
    expect(empty).toContain('no signed checkpoint yet');
    expect(page).not.toContain('Checkpoints stopped');
    const stopped = overviewPage(session, overview, {
      sealingLagSeconds: 0,
      lastVerify: null,
      lastCheckpoint: checkpoint,
      checkpointState: {
        checkpoints: 'stopped',
        checkpointProblem: { first_seq: '1001', last_seq: '2000', kid: 'k<1>', reason: 'is signed with key k<1>, …' },
      },
    });
    expect(stopped).toMatch(
      /<span class="bad">Checkpoints stopped<\/span>: the newest\s+checkpoint \(seq 1001–2000, key k&lt;1&gt;\)\s+is signed with key k&lt;1&gt;, …/,
    );
    const none = overviewPage(session, overview, {
      sealingLagSeconds: 0,
      lastVerify: null,
      lastCheckpoint: null,
      checkpointState: {
        checkpoints: 'stopped',
        checkpointProblem: { first_seq: null, last_seq: null, kid: null, reason: 'is gone: no checkpoint is left' },
      },
    });
    expect(none).toMatch(/Checkpoints stopped<\/span>: the newest\s+checkpoint\s+is gone: no checkpoint is left/);
    const overdue = overviewPage(session, overview, {
      sealingLagSeconds: 0,
      lastVerify: null,
      lastCheckpoint: checkpoint,
      checkpointState: {
        checkpoints: 'overdue',
        checkpointsOverdue: { uncoveredAfterSeq: '2000', waitingSeconds: 420 },
      },
    });
    expect(overdue).toMatch(
      /Checkpoints overdue<\/span>: the events after seq\s+2000 have waited\s+420\s+s for a signed checkpoint/,
    );
    expect(page).not.toContain('Checkpoints overdue');
    const passedOver = overviewPage(session, overview, {
      sealingLagSeconds: 0,
      lastVerify: null,
      lastCheckpoint: checkpoint,
      checkpointState: {
        checkpoints: 'passed_over',
        checkpointsPassedOver: {
          first_seq: '2001',
          last_seq: '2003',
          count: 2,
          reason: 'is signed with key <j>, …',
          at: '2026-12-06T11:00:00.000Z',
        },
      },
    });
    expect(passedOver).toMatch(
      /Untrusted checkpoints passed over<\/span> at 2026-12-06 11:00:00Z: 2 checkpoint\(s\), seq\s+2001–2003, appended outside the broker \(the newest is signed with key &lt;j&gt;, …\); checkpoints go on past them/,
    );
    expect(page).not.toContain('passed over');
    const verifyOverdue = overviewPage(session, overview, {
      sealingLagSeconds: 0,
      lastVerify: { at: new Date('2026-12-01T12:00:00.000Z'), status: 'intact', trusted: true },
      lastCheckpoint: checkpoint,
      fullVerifyOverdue: { lastCompletedAt: '2026-12-01T12:00:00.000Z', waitingSeconds: 80 * 3600, limitHours: 72 },
    });
    expect(verifyOverdue).toMatch(
      /Full verify overdue<\/span>: none has completed since 2026-12-01 12:00:00Z \(80\s+h,\s+limit 72 h\)/,
    );
    expect(page).not.toContain('Full verify overdue');
  });

  it('should escape every interpolated value, and keep built fragments as they are', () => {
    expect(esc(`<script>alert("x")</script>&'`)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${['<a>', html`<br />`]}</p>`.value).toBe('<p><b>&lt;i&gt;</b>&lt;a&gt;<br /></p>');
    const page = layout(
      'T<1>',
      { subject: 's', name: '"><img src=x>', roles: ['auditor'], csrfToken: 'tok"' },
      '/console',
      html``,
    );
    expect(page).toContain('&quot;&gt;&lt;img src=x&gt;');
    expect(page).toContain('value="tok&quot;"');
    expect(page).not.toContain('<script');
    expect(page).not.toContain('style=');
  });

  it('should only return to a console path after sign-in (no open redirect)', () => {
    expect(safeReturnTo('/console/events?outcome=failure')).toBe('/console/events?outcome=failure');
    const longest = `/console/events?q=${'a'.repeat(512 - 18)}`;
    expect(safeReturnTo(longest)).toBe(longest);
    for (const bad of [
      'https://evil.example/',
      '//evil.example',
      '/consolex',
      '/api/profiles',
      5,
      undefined,
      '/console\\evil',
      // Stored with every pending sign-in, which anyone may start: kept short.
      `/console/events?q=${'a'.repeat(500)}`,
    ]) {
      expect(safeReturnTo(bad)).toBe('/console');
    }
  });

  it('should draw one bar per hour with its numbers, stacked by series, without inline styles', () => {
    const svg = stackedBars(
      ['2026-12-06T00:00:00.000Z', '2026-12-06T01:00:00.000Z'],
      [
        { label: 'succeeded', colour: '#2b8a3e', values: [3, 0] },
        { label: 'failed: state_invalid', colour: '#b42318', values: [1, 2] },
      ],
    ).value;
    expect(svg.match(/<g class="bar"/g)).toHaveLength(2);
    expect(svg).toContain('data-total="4" data-s0="3" data-s1="1"');
    expect(svg).toContain('<title>2026-12-06T01:00:00.000Z: failed: state_invalid 2</title>');
    expect(svg).not.toContain('style=');
  });

  it('should order failure series by their totals', () => {
    const series = overviewSeries({
      since: '',
      until: '',
      hours: [
        { hour: 'a', succeeded: 1, failed: { idp_error: 1, state_invalid: 3 } },
        { hour: 'b', succeeded: 2, failed: { idp_error: 1 } },
      ],
      totals: { succeeded: 3, failed: 5 },
      topOrganisations: [],
      topAddresses: [],
    });
    expect(series.map((s) => [s.label, s.values])).toEqual([
      ['succeeded', [1, 2]],
      ['failed: state_invalid', [3, 0]],
      ['failed: idp_error', [1, 1]],
    ]);
  });

  it('should put a chart’s numbers in a JSON data block beside its SVG, with no way to close the block', () => {
    const box = chartBox(
      'signins',
      ['2026-12-06T00:00:00.000Z', '2026-12-06T01:00:00.000Z'],
      [{ label: 'failed: </script><script>alert(1)</script>', colour: '#b42318', values: [1, 2] }],
      { step: 3600, title: 'Sign-ins per hour', attributes: { 'data-since': '"x' } },
    ).value;
    expect(box).toMatch(/^<div id="signins" class="chart-box" data-uplot data-since="&quot;x"><svg class="chart"/);
    expect(box.match(/<\/script>/g)).toHaveLength(1);
    const json = /<script type="application\/json" id="signins-data">(.*)<\/script><\/div>$/.exec(box)?.[1] ?? '';
    expect(JSON.parse(json)).toEqual({
      x: [1796515200, 1796518800],
      step: 3600,
      height: 220,
      series: [{ label: 'failed: </script><script>alert(1)</script>', colour: '#b42318', values: [1, 2] }],
    });
  });

  it('should load uPlot and charts.js from the broker on chart pages only, by content-hashed URLs', () => {
    const session = { subject: 's', name: 'Sam', roles: ['auditor' as const], csrfToken: 't' };
    const assets = ConsoleAssets.load();
    const withCharts = layout('T', session, '/console', html``, { charts: true });
    const scripts = withCharts.match(/<script[^>]*>/g) ?? [];
    expect(scripts).toEqual([
      `<script defer src="${assets.url('uplot.min.js')}">`,
      `<script defer src="${assets.url('charts.js')}">`,
    ]);
    expect(assets.url('uplot.min.js')).toMatch(/^\/console\/assets\/uplot\.min\.js\?v=[A-Za-z0-9_-]{10}$/);
    expect(withCharts).toContain(`<link rel="stylesheet" href="${assets.url('uplot.min.css')}" />`);
    expect(layout('T', session, '/console', html``)).not.toContain('uplot');
    expect(CONSOLE_CSP).toContain("script-src 'self';");
    expect(CONSOLE_CSP).not.toContain('unsafe');
  });

  it('should hold uPlot from node_modules and our charts.js, and nothing else', () => {
    const assets = ConsoleAssets.load();
    expect(assets.get('uplot.min.js')?.body.toString('utf8')).toContain('uPlot');
    expect(assets.get('uplot.min.js')?.type).toBe('text/javascript; charset=utf-8');
    expect(assets.get('uplot.min.css')?.body.toString('utf8')).toContain('.uplot');
    expect(assets.get('charts.js')?.body.toString('utf8')).toContain('data-uplot');
    expect(assets.get('console.css')?.type).toBe('text/css; charset=utf-8');
    for (const name of ['uPlot.min.js', '../package.json', 'uplot.esm.js', '']) {
      expect(assets.get(name)).toBeUndefined();
    }
  });

  it('should show a developer’s organisation and its portal organisation and team, or say why there is none', () => {
    const session = { subject: 's', name: 'Sam', roles: ['auditor' as const], csrfToken: 't' };
    const developer = {
      id: '0b0e1b9e-4a43-4d1c-9a39-7b1b1d1f0a01',
      issuer: 'https://idp.example',
      subject: 'carol',
      email: 'carol@globex.example',
      emailVerified: true,
      name: 'Carol',
      organisationId: 'globex',
      organisationName: 'Globex <Inc>',
      portalUserId: '42',
      status: 'active',
      loginCount: 1,
      firstLoginAt: null,
      lastLoginAt: null,
    } as unknown as Parameters<typeof developerPage>[1];
    const logins = { data: [], next_cursor: null } as unknown as Parameters<typeof developerPage>[3];
    const linked = developerPage(
      session,
      developer,
      {
        issuer: 'https://idp.example',
        cloudentityOrgId: 'globex',
        portalOrgId: 'po-1',
        portalTeamId: 'pt-2',
        createdAt: new Date('2026-12-01T00:00:00Z'),
      },
      logins,
      [],
    );
    const text = linked.replace(/\s+/g, ' ');
    expect(text).toContain('Globex &lt;Inc&gt; <span class="muted">(globex)</span>');
    expect(text).toContain('portal organisation <code>po-1</code >, team <code>pt-2</code>');
    expect(linked).toContain('portal user <code>42</code>');
    expect(linked).toContain(
      '<div id="logins-per-day" class="chart-box" data-uplot><svg class="chart" viewBox="0 0 960 140" role="img" aria-label="Logins per day"',
    );
    const unlinked = developerPage(session, { ...developer, portalUserId: null }, null, logins, []);
    expect(unlinked).toContain('no portal organisation linked to this organisation');
    expect(unlinked).toContain('not in the portal yet');
    const noOrg = developerPage(
      session,
      { ...developer, organisationId: null, organisationName: null },
      null,
      logins,
      [],
    );
    expect(noOrg).toContain('none in the ID token');
    expect(noOrg).toContain('no organisation, so no portal organisation');
  });
});
