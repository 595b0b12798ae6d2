import type { EmulatorState, User } from './emulator.state.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)} · Developer Portal (emulator)</title></head>
<body>
${body}
</body>
</html>
`;
}

/** The signed-in home page; the element ids are stable for browser tests. */
export function homePage(state: EmulatorState, user: User): string {
  const name = `${user.First} ${user.Last}`.trim() || user.Email;
  const org = state.orgs.get(user.OrganisationID)?.Name ?? '';
  const teams = user.Teams.map((id) => state.teams.get(id)?.Name)
    .filter((n): n is string => n !== undefined)
    .join(', ');
  return page(
    'Home',
    `<h1>Developer Portal</h1>
<p>Signed in as <span id="user-name">${escapeHtml(name)}</span> (<span id="user-email">${escapeHtml(user.Email)}</span>)</p>
<p>Organisation: <span id="organisation">${escapeHtml(org)}</span></p>
<p>Team: <span id="team">${escapeHtml(teams)}</span></p>`,
  );
}

export function signedOutPage(): string {
  return page('Home', `<h1>Developer Portal</h1>\n<p id="signed-out">You are not signed in.</p>`);
}

export function loginFailedPage(message: string): string {
  return page('Login failed', `<h1>Login failed</h1>\n<p id="error">${escapeHtml(message)}</p>`);
}
