import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditService } from '@app/audit';
import { OrganisationLinksService } from '@app/developers';
import pg from 'pg';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN_SECRET, guideProfile, putProfile, startStack, type Stack } from '@test/support/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = mkdtempSync(path.join(tmpdir(), 'console-shots-'));

/**
 * The security console in a real browser: staff sign in through the dev IdP, the overview's
 * numbers match the API's, events filter, page and export, an admin blocks a developer (whose next
 * login is refused), an auditor cannot, and no console page loads anything from elsewhere.
 */
describe('security console (Chromium, dev IdP, real Postgres)', () => {
  let stack: Stack;
  let browser: Browser;
  const external: string[] = [];

  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const res = await fetch(`${stack.broker.url}${pathAndQuery}`, { headers: { Authorization: ADMIN_SECRET } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  };

  /** Every event the API returns for a query, following its cursors. */
  const apiAll = async (query: string): Promise<{ outcome: string; organisation_id: string | null }[]> => {
    const out: { outcome: string; organisation_id: string | null }[] = [];
    let cursor = '';
    for (;;) {
      const page = await api<{
        data: { outcome: string; organisation_id: string | null }[];
        next_cursor: string | null;
      }>(`/api/audit/events?${query}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      out.push(...page.data);
      if (!page.next_cursor || page.data.length === 0) return out;
      cursor = page.next_cursor;
    }
  };

  /** CSP violations and script errors seen on any console page (the console's own script included). */
  const violations: string[] = [];

  async function context(options: { javaScriptEnabled?: boolean } = {}): Promise<BrowserContext> {
    const ctx = await browser.newContext({ acceptDownloads: true, ...options });
    // Injected by the browser driver (not subject to the page's CSP): records every violation report.
    await ctx.addInitScript({
      content: `document.addEventListener('securitypolicyviolation', (e) => {
        (window.cspViolations = window.cspViolations || []).push(e.violatedDirective + ' ' + e.blockedURI);
      });`,
    });
    ctx.on('console', (m) => {
      if (m.type() === 'error' && m.location().url.startsWith(stack.broker.url)) {
        violations.push(`${m.location().url}: ${m.text()}`);
      }
    });
    ctx.on('weberror', (e) => violations.push(String(e.error())));
    ctx.on('request', (r) => {
      // Sub-resources of console pages only: navigations to the IdP are the sign-in itself.
      if (r.isNavigationRequest()) return;
      const frameUrl = r.frame().url();
      if (frameUrl.startsWith(`${stack.broker.url}/console`) && !r.url().startsWith(`${stack.broker.url}/`)) {
        external.push(r.url());
      }
    });
    return ctx;
  }

  async function signIn(ctx: BrowserContext, account: string): Promise<Page> {
    const page = await ctx.newPage();
    await page.goto(`${stack.broker.url}/console`);
    await page.waitForSelector(`button[name="account"][value="${account}"]`);
    await page.click(`button[name="account"][value="${account}"]`);
    await page.waitForURL(`${stack.broker.url}/console`, { timeout: 15_000 }).catch(async () => {
      const logs = stack.broker.logs.lines.filter((l) => l.includes('"level":50') || l.includes('"level":40'));
      throw new Error(
        `sign-in ended at ${page.url()}: ${(await page.textContent('body'))?.slice(0, 300)}\n${logs.slice(-5).join('\n')}`,
      );
    });
    return page;
  }

  async function developerLogin(ctx: BrowserContext, account: string): Promise<string> {
    const page = await ctx.newPage();
    await page.goto(`${stack.broker.url}/auth/guide/openid-connect`);
    await page.waitForSelector(`button[name="account"][value="${account}"]`);
    await page.click(`button[name="account"][value="${account}"]`);
    await page.waitForURL(`${stack.portal.url}/**`);
    const url = page.url();
    await page.close();
    return url;
  }

  beforeAll(async () => {
    stack = await startStack({ console: true });
    await putProfile(stack, guideProfile(stack));
    const audit = stack.broker.app.get(AuditService);
    for (let i = 0; i < 60; i++) {
      await audit.record({
        type: 'login.failed',
        outcome: 'failure',
        reason: i % 2 ? 'state_invalid' : 'idp_error',
        profileId: 'guide',
        organisationId: 'globex',
        ip: '198.51.100.7',
      });
    }
    for (let i = 0; i < 15; i++) {
      await audit.record({
        type: 'login.failed',
        outcome: 'failure',
        reason: 'nonce_mismatch',
        organisationId: 'acme',
        ip: '203.0.113.9',
      });
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking'].concat(
        ['--disable-component-update', '--disable-sync', '--no-first-run'],
      ),
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('should sign an auditor in and show the overview with the API’s counts for the same window', async () => {
    const developer = await browser.newContext();
    expect(await developerLogin(developer, 'carol')).not.toContain('error=');
    await developer.close();
    const ctx = await context();
    const page = await signIn(ctx, 'sam-auditor');
    const cookies = await ctx.cookies(stack.broker.url);
    const session = cookies.find((c) => c.name === 'broker_console');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
    const csp = (await page.request.get(`${stack.broker.url}/console`)).headers()['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');

    const chart = page.locator('#signins');
    const since = await chart.getAttribute('data-since');
    const until = await chart.getAttribute('data-until');
    const events = await apiAll(`type=login.*&since=${since}&until=${until}`);
    const ok = events.filter((e) => e.outcome === 'success').length;
    const failed = events.filter((e) => e.outcome === 'failure').length;
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(failed).toBe(75);
    expect(await page.textContent('#total-succeeded')).toBe(String(ok));
    expect(await page.textContent('#total-failed')).toBe(String(failed));
    // uPlot drew the chart on a canvas from the page's data block, whose numbers are the API's.
    await page.waitForSelector('#signins[data-drawn="uplot"] canvas');
    expect(await page.locator('#signins svg.chart').count()).toBe(0);
    const data = JSON.parse((await page.textContent('#signins-data')) ?? '') as {
      x: number[];
      series: { label: string; values: number[] }[];
    };
    expect(data.x).toHaveLength(7 * 24);
    const sum = (label: (l: string) => boolean) =>
      data.series.filter((s) => label(s.label)).reduce((n, s) => n + s.values.reduce((a, b) => a + b, 0), 0);
    expect(sum((l) => l === 'succeeded')).toBe(ok);
    expect(sum((l) => l.startsWith('failed: '))).toBe(failed);
    expect(sum((l) => l === 'failed: nonce_mismatch')).toBe(15);
    expect(await page.getAttribute('#signins', 'data-drawn-total')).toBe(String(ok + failed));
    expect(await page.locator('#signins .u-legend').textContent()).toContain('failed: state_invalid');
    expect(await page.locator('table >> text=globex').count()).toBeGreaterThan(0);
    // The addresses live in audit_event_personal since the erasure work: the card must read them.
    const addresses = await page
      .locator('table:has(th:text("Client address")) tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent?.trim()).join(' ')),
      );
    expect(addresses).toEqual(expect.arrayContaining(['198.51.100.7 60', '203.0.113.9 15']));
    expect(await page.evaluate('window.cspViolations || []')).toEqual([]);
    await page.screenshot({ path: path.join(SHOTS, 'console-overview.png'), fullPage: true });
    await ctx.close();
  }, 60_000);

  it('should show the same chart as server-drawn SVG and the tables to a browser without JavaScript', async () => {
    const ctx = await context({ javaScriptEnabled: false });
    const page = await signIn(ctx, 'sam-auditor');
    const since = (await page.getAttribute('#signins', 'data-since')) ?? '';
    const until = (await page.getAttribute('#signins', 'data-until')) ?? '';
    const events = await apiAll(`type=login.*&since=${since}&until=${until}`);
    expect(await page.locator('#signins canvas').count()).toBe(0);
    const bars = await page
      .locator('#signins g.bar')
      .evaluateAll((gs) => gs.map((g) => Number(g.getAttribute('data-total'))));
    expect(bars).toHaveLength(7 * 24);
    expect(bars.reduce((a, b) => a + b, 0)).toBe(events.length);
    expect(await page.locator('table >> text=globex').count()).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(SHOTS, 'console-overview-no-js.png'), fullPage: true });
    await ctx.close();
  }, 60_000);

  it('should serve uPlot and charts.js with a long cache, an ETag and nosniff, and 404 any other asset', async () => {
    const ctx = await context();
    const page = await signIn(ctx, 'sam-auditor');
    const urls = await page
      .locator('script[src], link[rel="stylesheet"], link[rel="icon"]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('src') ?? e.getAttribute('href') ?? ''));
    expect(urls.map((u) => u.replace(/\?v=[A-Za-z0-9_-]+$/, ''))).toEqual([
      '/console/assets/favicon.svg',
      '/console/assets/console.css',
      '/console/assets/uplot.min.css',
      '/console/assets/uplot.min.js',
      '/console/assets/charts.js',
    ]);
    const types: Record<string, string> = {
      'favicon.svg': 'image/svg+xml',
      'console.css': 'text/css; charset=utf-8',
      'uplot.min.css': 'text/css; charset=utf-8',
      'uplot.min.js': 'text/javascript; charset=utf-8',
      'charts.js': 'text/javascript; charset=utf-8',
    };
    for (const url of urls) {
      // A plain request, without the session: the files are public.
      const res = await fetch(`${stack.broker.url}${url}`);
      expect(res.status).toBe(200);
      const name = url.slice('/console/assets/'.length).split('?')[0] ?? '';
      expect(res.headers.get('content-type')).toBe(types[name]);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const etag = res.headers.get('etag') ?? '';
      expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
      const again = await fetch(`${stack.broker.url}${url}`, { headers: { 'If-None-Match': etag } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
      // A weak validator or a list (RFC 9110 §13.1.2) revalidates too; a stale one gets the file.
      for (const header of [`W/${etag}`, `"stale", ${etag}`]) {
        expect((await fetch(`${stack.broker.url}${url}`, { headers: { 'If-None-Match': header } })).status).toBe(304);
      }
      expect((await fetch(`${stack.broker.url}${url}`, { headers: { 'If-None-Match': '"stale"' } })).status).toBe(200);
    }
    expect((await fetch(`${stack.broker.url}/console/assets/uplot.min.js`)).status).toBe(200);
    for (const unknown of ['uPlot.esm.js', 'nope.js', '..%2F..%2Fpackage.json', '.%2Fcharts.js']) {
      const res = await fetch(`${stack.broker.url}/console/assets/${unknown}`);
      expect([unknown, res.status]).toEqual([unknown, 404]);
    }
    // Hostile names (NUL, a lone surrogate, malformed escapes, a long name) and a megabyte
    // If-None-Match: a client error, never a 500, while /health keeps answering.
    const hostile = ['%00', 'charts.js%00', '%ED%A0%80', '%uD800', '%E0%A4%A', 'a'.repeat(8000)].map((name) =>
      fetch(`${stack.broker.url}/console/assets/${name}`).then((r) => [name.slice(0, 20), r.status] as const),
    );
    const huge = fetch(`${stack.broker.url}/console/assets/charts.js`, {
      headers: { 'If-None-Match': 'x'.repeat(1_000_000) },
    }).then(
      (r) => ['huge If-None-Match', r.status] as const,
      () => ['huge If-None-Match', 431] as const, // the server may close the connection instead
    );
    const health = fetch(`${stack.broker.url}/health`);
    for (const [name, status] of await Promise.all([...hostile, huge])) {
      expect([name, [400, 404, 431].includes(status)]).toEqual([name, true]);
    }
    expect((await health).status).toBe(200);
    await ctx.close();
  }, 60_000);

  it('should filter the failed logins of one organisation, page through them and export them', async () => {
    const ctx = await context();
    const page = await signIn(ctx, 'sam-auditor');
    await page.goto(`${stack.broker.url}/console/events`);
    await page.selectOption('select[name="outcome"]', 'failure');
    await page.fill('input[name="type"]', 'login.failed');
    await page.fill('input[name="organization"]', 'globex');
    await page.fill('input[name="limit"]', '25');
    await page.click('button:has-text("Filter")');
    await page.waitForURL(/organization=globex/);
    const seen: string[] = [];
    for (let n = 0; n < 10; n++) {
      const rows = page.locator('#events tr.event');
      const orgs = await rows.locator('td:nth-child(6)').allTextContents();
      expect(orgs.every((o) => o === 'globex')).toBe(true);
      seen.push(...(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id') ?? ''))));
      if (n === 0) await page.screenshot({ path: path.join(SHOTS, 'console-events.png'), fullPage: true });
      if ((await page.locator('#next-page').count()) === 0) break;
      await page.click('#next-page');
      await page.waitForLoadState();
    }
    expect(new Set(seen).size).toBe(60);
    expect(seen).toHaveLength(60);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-ndjson')]);
    const file = path.join(SHOTS, 'export.ndjson');
    await download.saveAs(file);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { organisation_id: string; outcome: string });
    expect(lines).toHaveLength(60);
    expect(lines.every((l) => l.organisation_id === 'globex' && l.outcome === 'failure')).toBe(true);
    await ctx.close();
  }, 60_000);

  it('should show an auditor no block button and refuse a forged block with 403', async () => {
    const { data } = await api<{ data: { id: string; issuer: string }[] }>(
      '/api/developers?email=carol@globex.example',
    );
    const id = data[0].id;
    const ctx = await context();
    const page = await signIn(ctx, 'sam-auditor');
    await page.goto(`${stack.broker.url}/console/developers/${id}`);
    expect(await page.textContent('#organisation')).toMatch(/^\s*Globex Inc\s+\(globex\)\s*$/);
    expect(await page.textContent('#placement')).toContain('no portal organisation linked to this organisation');
    // Organisation sync's link for carol's organisation (as a first login with sync on makes it).
    await stack.broker.app
      .get(OrganisationLinksService)
      .claim(data[0].issuer, 'globex', () =>
        Promise.resolve({ portalOrgId: 'porg-globex-7', portalTeamId: 'pteam-9' }),
      );
    await page.reload();
    const placement = ((await page.textContent('#placement')) ?? '').replace(/\s+/g, ' ');
    expect(placement).toContain('portal organisation porg-globex-7, team pteam-9');
    const portalUser = (await api<{ portal_user_id: string | null }>(`/api/developers/${id}`)).portal_user_id;
    expect(placement).toContain(portalUser ? `portal user ${portalUser}` : 'not in the portal yet');
    expect(await page.textContent('#status')).toBe('active');
    expect(await page.locator('#block').count()).toBe(0);
    // The login-history chart: uPlot over the per-day counts of the history below it.
    await page.waitForSelector('#logins-per-day[data-drawn="uplot"] canvas');
    const drawn = Number(await page.getAttribute('#logins-per-day', 'data-drawn-total'));
    expect(drawn).toBeGreaterThanOrEqual(1);
    expect(drawn).toBe(await page.locator('#events tr.event').count());
    const csrf = await page.locator('input[name="_csrf"]').first().getAttribute('value');
    const forged = await page.request.post(`${stack.broker.url}/console/developers/${id}/block`, {
      form: { _csrf: csrf ?? '' },
    });
    expect(forged.status()).toBe(403);
    const noToken = await page.request.post(`${stack.broker.url}/console/developers/${id}/block`, { form: {} });
    expect(noToken.status()).toBe(403);
    expect((await api<{ status: string }>(`/api/developers/${id}`)).status).toBe('active');
    await ctx.close();
  }, 60_000);

  it('should let an admin block a developer, whose next login is then refused', async () => {
    const { data } = await api<{ data: { id: string }[] }>('/api/developers?email=carol@globex.example');
    const id = data[0].id;
    const ctx = await context();
    const page = await signIn(ctx, 'ada-admin');
    await page.goto(`${stack.broker.url}/console/developers/${id}`);
    await page.click('#block');
    await page.waitForURL(`${stack.broker.url}/console/developers/${id}`);
    expect(await page.textContent('#status')).toBe('blocked');
    expect((await api<{ status: string }>(`/api/developers/${id}`)).status).toBe('blocked');
    // A write without the session's CSRF token is refused even for an admin.
    const forged = await page.request.post(`${stack.broker.url}/console/developers/${id}/unblock`, {
      form: { _csrf: 'x' },
    });
    expect(forged.status()).toBe(403);

    const developer = await browser.newContext();
    expect(await developerLogin(developer, 'carol')).toContain('error=developer_blocked');
    await developer.close();
    await ctx.close();
  }, 60_000);

  it('should show profiles read-only with secrets masked', async () => {
    const ctx = await context();
    const page = await signIn(ctx, 'sam-auditor');
    await page.goto(`${stack.broker.url}/console/profiles`);
    await page.click('a:has-text("guide")');
    const text = (await page.textContent('#profile')) ?? '';
    expect(text).toContain('"ID": "guide"');
    expect(text).toContain('********');
    expect(text).not.toContain('stack-client-secret');
    await ctx.close();
  }, 60_000);

  it('should keep only a hash of the session id, and end a session when idle or past its absolute limit', async () => {
    const ctx = await context();
    const page = await signIn(ctx, 'sam-auditor');
    const id = (await ctx.cookies(stack.broker.url)).find((c) => c.name === 'broker_console')?.value ?? '';
    const sql = new pg.Client({ connectionString: stack.db.url });
    await sql.connect();
    try {
      const hash = createHash('sha256').update(id).digest();
      const stored = await sql.query(`SELECT id_hash FROM console_sessions WHERE kind = 'active'`);
      expect(stored.rows.some((r: { id_hash: Buffer }) => r.id_hash.equals(hash))).toBe(true);
      const asText = await sql.query(
        `SELECT count(*)::int AS n FROM console_sessions WHERE position($1 in row(console_sessions.*)::text) > 0`,
        [id],
      );
      expect(asText.rows[0]).toEqual({ n: 0 });

      const status = async () => (await page.request.get(`${stack.broker.url}/console`, { maxRedirects: 0 })).status();
      expect(await status()).toBe(200);
      await sql.query(`UPDATE console_sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_hash = $1`, [
        hash,
      ]);
      expect(await status()).toBe(302);
      await sql.query(
        `UPDATE console_sessions SET last_seen_at = now(), expires_at = now() - interval '1 second' WHERE id_hash = $1`,
        [hash],
      );
      expect(await status()).toBe(302);
    } finally {
      await sql.end();
      await ctx.close();
    }
  }, 60_000);

  it('should have loaded nothing from outside the broker, and broken no CSP rule, on any console page', () => {
    expect(external).toEqual([]);
    expect(violations).toEqual([]);
    // Artefacts for the README (not compared): copied to docs/ when asked.
    if (process.env.CONSOLE_SCREENSHOTS_TO_DOCS === '1') {
      mkdirSync('docs', { recursive: true });
      for (const f of ['console-overview.png', 'console-events.png', 'console-overview-no-js.png']) {
        copyFileSync(path.join(SHOTS, f), path.join('docs', f));
      }
    }
  });
});
