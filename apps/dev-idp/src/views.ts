import type { DevAccount } from './accounts.js';

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}
main{max-width:560px;margin:40px auto;padding:0 16px}
.card{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:24px 28px}
h1{font-size:22px;margin:0 0 4px}
.sub{color:#6b7280;margin:0 0 20px;font-size:13px}
.note{background:#fef3c7;border-radius:6px;padding:8px 12px;font-size:13px;margin:0 0 16px}
.error{background:#fee2e2;color:#991b1b;border-radius:6px;padding:8px 12px;margin:0 0 16px}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#6b7280;margin:20px 0 8px}
button.account{display:block;width:100%;text-align:left;border:1px solid #d1d5db;border-radius:8px;background:#fff;
 padding:10px 14px;margin:0 0 8px;cursor:pointer;font:inherit;color:inherit}
button.account:hover,button.account:focus{border-color:#2563eb;background:#eff6ff;outline:none}
.name{font-weight:600;display:block}
.meta{color:#4b5563;font-size:13px}
.tag{display:inline-block;font-size:11px;border-radius:4px;padding:0 6px;margin-left:6px;background:#fee2e2;color:#991b1b}
button.cancel{border:0;background:none;color:#6b7280;cursor:pointer;font:inherit;padding:0;text-decoration:underline}
code{font-size:13px}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main><div class="card">
${body}
</div></main></body>
</html>
`;
}

export interface LoginPageInput {
  /** Where the account pick is POSTed. */
  action: string;
  /** Where "cancel" is POSTed (ends the flow with access_denied). */
  abortAction: string;
  clientId: string;
  workspace: string;
  accounts: DevAccount[];
  error?: string;
}

function accountButton(account: DevAccount): string {
  const org = account.organization_name ?? 'No organisation';
  const unverified = account.email_verified ? '' : '<span class="tag">email not verified</span>';
  return `<button type="submit" class="account" name="account" value="${escapeHtml(account.sub)}">
<span class="name">${escapeHtml(account.name)}</span>
<span class="meta">${escapeHtml(account.email)}${unverified} · ${escapeHtml(org)}</span>
</button>`;
}

/** The developer picker: one submit button per account, grouped by organisation. */
export function renderLoginPage(input: LoginPageInput): string {
  const groups = new Map<string, DevAccount[]>();
  for (const account of input.accounts) {
    const key = account.organization_name ?? 'No organisation';
    groups.set(key, [...(groups.get(key) ?? []), account]);
  }
  const sections = [...groups.entries()]
    .map(([org, accounts]) => `<h2>${escapeHtml(org)}</h2>\n${accounts.map(accountButton).join('\n')}`)
    .join('\n');
  const error = input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : '';
  return page(
    'Sign in – dev IdP',
    `<h1>Sign in</h1>
<p class="sub">Workspace <code>${escapeHtml(input.workspace)}</code> · application <code>${escapeHtml(input.clientId)}</code></p>
<p class="note">Development identity provider: pick a developer, no password needed.</p>
${error}
<form method="post" action="${escapeHtml(input.action)}">
${sections}
</form>
<form method="post" action="${escapeHtml(input.abortAction)}">
<button type="submit" class="cancel">Cancel sign-in</button>
</form>`,
  );
}

/** A small page for errors and notices. */
export function renderMessagePage(title: string, lines: Record<string, unknown> | string): string {
  const body =
    typeof lines === 'string'
      ? `<p>${escapeHtml(lines)}</p>`
      : Object.entries(lines)
          .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
          .join('\n');
  return page(title, `<h1>${escapeHtml(title)}</h1>\n${body}`);
}
