import { ConsoleAssets } from '../console-assets.js';
import type { ConsoleSession } from '../console-session.service.js';

/** Escapes text for element content and quoted attribute values: every value goes through it. */
export function esc(value: unknown): string {
  const text = typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** A tagged template whose interpolations are escaped unless they are already-built Html. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const part = Array.isArray(v)
      ? v.map((x) => (x instanceof Html ? x.value : esc(x))).join('')
      : v instanceof Html
        ? v.value
        : esc(v);
    out += part + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/**
 * The console's strict policy: scripts, stylesheets and images only from the broker's own files (no
 * inline script or style: chart data travels in `<script type="application/json">` blocks, which
 * are never executed), no connections, forms only to the broker, never framed.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * A JSON data block for charts.js: not executed (so not script under the CSP); `<` is escaped so
 * no value can close the element.
 */
export function jsonBlock(id: string, data: unknown): Html {
  return new Html(
    `<script type="application/json" id="${esc(id)}">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>`,
  );
}

/** The stylesheet, plus uPlot and charts.js on pages that draw charts (deferred: tables first). */
function head(charts: boolean): Html {
  const assets = ConsoleAssets.load();
  return new Html(
    `<link rel="icon" href="${assets.url('favicon.svg')}" type="image/svg+xml" />` +
      `<link rel="stylesheet" href="${assets.url('console.css')}" />` +
      (charts
        ? `<link rel="stylesheet" href="${assets.url('uplot.min.css')}" />` +
          `<script defer src="${assets.url('uplot.min.js')}"></script>` +
          `<script defer src="${assets.url('charts.js')}"></script>`
        : ''),
  );
}

const NAV: [string, string][] = [
  ['/console', 'Overview'],
  ['/console/events', 'Events'],
  ['/console/developers', 'Developers'],
  ['/console/profiles', 'Profiles'],
];

export function layout(
  title: string,
  session: ConsoleSession,
  current: string,
  body: Html,
  options: { charts?: boolean } = {},
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · Security console</title>
        ${head(options.charts ?? false)}
      </head>
      <body>
        <header class="top">
          <span class="brand">Portal SSO Broker · Security console</span>
          <nav>
            ${NAV.map(([href, label]) => html`<a href="${href}" ${new Html(href === current ? ' aria-current="page"' : '')}>${label}</a>`)}
          </nav>
          <form method="post" action="/console/sign-out" class="who">
            <span>${session.name ?? session.subject} (${session.roles.join(', ')})</span>
            <input type="hidden" name="_csrf" value="${session.csrfToken}" />
            <button type="submit">Sign out</button>
          </form>
        </header>
        <main>
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html> `.value;
}

export function messagePage(title: string, message: string, link?: { href: string; label: string }): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>${title} · Security console</title>
        ${head(false)}
      </head>
      <body>
        <main class="narrow">
          <h1>${title}</h1>
          <p>${message}</p>
          ${link ? html`<p><a class="button" href="${link.href}">${link.label}</a></p>` : ''}
        </main>
      </body>
    </html> `.value;
}
