/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
  :root { color-scheme: light; --ink: #1d2733; --muted: #5b6777; --line: #e3e8ef; --brand: #5a3fc0; --bad: #b42318; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f7fb; }
  main { max-width: 640px; margin: 64px auto; padding: 0 20px; }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 28px 32px; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
  h1 { font-size: 22px; margin: 0 0 4px; }
  p.lead { color: var(--muted); margin: 0 0 24px; }
  ul.profiles { list-style: none; padding: 0; margin: 0; }
  ul.profiles li { display: flex; align-items: center; justify-content: space-between; gap: 16px; padding: 14px 0; border-top: 1px solid var(--line); }
  ul.profiles li:first-child { border-top: 0; }
  .name { font-weight: 600; }
  .meta { color: var(--muted); font-size: 14px; }
  a.button { display: inline-block; padding: 8px 16px; border-radius: 8px; background: var(--brand); color: #fff; text-decoration: none; font-weight: 600; white-space: nowrap; }
  a.button:focus, a.button:hover { background: #4a31a8; }
  .code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; background: #f2f4f7; border-radius: 6px; padding: 2px 6px; }
  .error h1 { color: var(--bad); }
  footer { color: var(--muted); font-size: 13px; margin-top: 16px; text-align: center; }
`;

/** The shared frame of the broker's pages: self-contained, no external assets (works offline). */
export function page(title: string, body: string, extraClass = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main class="${escapeHtml(extraClass)}">
<div class="card">
${body}
</div>
<footer>Portal SSO Broker</footer>
</main>
</body>
</html>
`;
}

export interface LoginLink {
  name: string;
  provider: string;
  href: string;
}

export function landingPage(links: LoginLink[]): string {
  const items = links.length
    ? `<ul class="profiles">${links
        .map(
          (l) =>
            `<li><div><div class="name">${escapeHtml(l.name)}</div><div class="meta">${escapeHtml(l.provider)}</div></div><a class="button" href="${escapeHtml(l.href)}">Sign in</a></li>`,
        )
        .join('')}</ul>`
    : '<p class="meta" id="no-profiles">No sign-in profiles are configured yet. An administrator can add one through <span class="code">/api/profiles</span>.</p>';
  return page(
    'Sign in to the developer portal',
    `<h1>Sign in to the developer portal</h1><p class="lead">Choose how you sign in.</p>${items}`,
  );
}

export function errorPage(status: number, code: string, message: string, requestId: string): string {
  return page(
    'Sign-in failed',
    `<h1>Sign-in failed</h1>
<p class="lead" id="error-message">${escapeHtml(message)}</p>
<p class="meta">Error code <span class="code" id="error-code">${escapeHtml(code)}</span> · HTTP ${status}${
      requestId ? ` · request <span class="code">${escapeHtml(requestId)}</span>` : ''
    }</p>
<p><a class="button" href="/">Back to sign-in</a></p>`,
    'error',
  );
}
