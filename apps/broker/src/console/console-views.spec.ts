import { safeReturnTo } from './console-session.service.js';
import { stackedBars } from './views/chart.js';
import { esc, html, layout } from './views/layout.js';
import { overviewPage, overviewSeries } from './views/pages.js';

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
      lastVerify: { at: new Date('2026-12-06T11:00:00.000Z'), status: 'broken' },
      lastCheckpoint: checkpoint,
    });
    expect(page).toContain('<span class="bad">broken</span> at 2026-12-06 11:00:00Z');
    expect(page).toContain('seq 1001–2000 at 2026-12-06 10:00:00Z (key key-1)');
    const empty = overviewPage(session, overview, { sealingLagSeconds: 0, lastVerify: null, lastCheckpoint: null });
    expect(empty).toContain('no full verify recorded yet');
    expect(empty).toContain('no signed checkpoint yet');
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
    for (const bad of [
      'https://evil.example/',
      '//evil.example',
      '/consolex',
      '/api/profiles',
      5,
      undefined,
      '/console\\evil',
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
});
