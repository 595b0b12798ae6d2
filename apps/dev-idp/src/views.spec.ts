import { parseAccount } from './accounts.js';
import { escapeHtml, renderLoginPage, renderMessagePage } from './views.js';

describe('dev IdP views', () => {
  it('should escape every HTML-significant character', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('should render one account button per developer with escaped text and no external assets', () => {
    const html = renderLoginPage({
      action: '/dev/developers/interaction/u1',
      abortAction: '/dev/developers/interaction/u1/abort',
      clientId: 'portal-sso-broker',
      workspace: 'dev/developers',
      accounts: [
        parseAccount({ sub: 'x"y', email: 'e@x.example', name: '<b>Eve</b>', organization_name: 'A&B' }, 'T'),
        parseAccount({ sub: 'n', email: 'n@x.example', email_verified: false }, 'T'),
      ],
      error: '<oops>',
    });
    expect(html).toContain('<form method="post" action="/dev/developers/interaction/u1">');
    expect(html).toContain('name="account" value="x&quot;y"');
    expect(html).toContain('name="account" value="n"');
    expect(html).toContain('&lt;b&gt;Eve&lt;/b&gt;');
    expect(html).toContain('A&amp;B');
    expect(html).toContain('No organisation');
    expect(html).toContain('email not verified');
    expect(html).toContain('&lt;oops&gt;');
    expect(html).not.toContain('<b>');
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('should escape the keys and values of a message page', () => {
    const html = renderMessagePage('Error <1>', { '<k>': '<v>' });
    expect(html).toContain('Error &lt;1&gt;');
    expect(html).toContain('<strong>&lt;k&gt;</strong>: &lt;v&gt;');
  });
});
