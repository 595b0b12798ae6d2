import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { PORTAL_SECRET, guideProfile, putProfile, startStack, type Stack } from '@test/support/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = mkdtempSync(path.join(tmpdir(), 'broker-shots-'));

/** PNG signature and a plausible size: a blank or failed capture is tiny. */
function expectPng(file: string): void {
  const bytes = readFileSync(file);
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(bytes.length).toBeGreaterThan(5000);
}

describe('a developer signs in with a real browser (Chromium) through broker, dev IdP and portal', () => {
  let stack: Stack;
  let browser: Browser;

  beforeAll(async () => {
    stack = await startStack({ profileIds: ['browser', 'plain'] });
    const plain = guideProfile(stack, 'plain');
    delete (plain.ProviderConfig as Record<string, unknown>).FailureRedirect;
    await putProfile(stack, plain);
    await putProfile(
      stack,
      guideProfile(stack, 'browser', {
        Name: 'Acme developers <Cloudentity>',
        IdentityHandlerConfig: { DashboardCredential: PORTAL_SECRET, OrganisationSync: { Enabled: true } },
        ProviderConfig: {
          ...(guideProfile(stack, 'browser').ProviderConfig as object),
          UseProviders: [
            {
              ...(guideProfile(stack, 'browser').ProviderConfig as { UseProviders: object[] }).UseProviders[0],
              Scopes: ['openid', 'profile', 'email'],
            },
          ],
        },
      }),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('should land on the portal page showing the name, organisation and team', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.broker.url}/`);
    await page.screenshot({ path: path.join(SHOTS, 'landing.png') });
    expectPng(path.join(SHOTS, 'landing.png'));
    // The landing page lists the profile with its name escaped, and links to the login route.
    expect(await page.locator('.name').first().textContent()).toBe('Acme developers <Cloudentity>');
    await page.click('a.button');
    // At the IdP: pick a demo developer.
    await page.waitForSelector('button[name="account"][value="carol"]');
    await page.click('button[name="account"][value="carol"]');
    await page.waitForURL(`${stack.portal.url}/**`);
    await page.waitForSelector('#user-name');
    expect(await page.textContent('#user-name')).toContain('Carol');
    expect(await page.textContent('#user-email')).toContain('carol@globex.example');
    expect(await page.textContent('#organisation')).toContain('Globex Inc');
    expect((await page.textContent('#team'))?.trim().length).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(SHOTS, 'portal.png') });
    expectPng(path.join(SHOTS, 'portal.png'));
    const cookies = await page.context().cookies(stack.broker.url + '/auth');
    const binding = cookies.find((c) => c.name === 'sso_broker_login');
    expect(binding?.httpOnly).toBe(true);
    expect(binding?.sameSite).toBe('Lax');

    // Signing out (issue 16): the broker's logout route, the dev IdP's confirmation, then the
    // post-logout URL (the portal's home, the ReturnURL's origin) with the broker's state.
    await page.goto(`${stack.broker.url}/auth/browser/openid-connect/logout`);
    await page.waitForSelector('button[name="logout"][value="yes"]');
    await page.click('button[name="logout"][value="yes"]');
    await page.waitForURL(`${stack.portal.url}/?state=*`);
    expect(new URL(page.url()).searchParams.get('state')).toMatch(/^[\w-]{22}$/);
    await page.close();
  });

  it('should render the error page, offline and styled, when a login fails without FailureRedirect', async () => {
    const page = await browser.newPage();
    const external: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(stack.broker.url)) external.push(r.url());
    });
    // A forged state on a callback that otherwise looks like the IdP's (RFC 9207 iss included).
    const iss = encodeURIComponent(stack.idp.issuer);
    const res = await page.goto(
      `${stack.broker.url}/auth/plain/openid-connect/callback?state=forged&code=x&iss=${iss}`,
    );
    expect(res?.status()).toBe(400);
    expect(await page.textContent('#error-code')).toBe('state_invalid');
    expect(await page.textContent('h1')).toBe('Sign-in failed');
    // Styled by its inline stylesheet: the card has a white background.
    const background = await page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor");
    expect(background).toBe('rgb(255, 255, 255)');
    await page.screenshot({ path: path.join(SHOTS, 'error.png') });
    expectPng(path.join(SHOTS, 'error.png'));
    expect(external).toEqual([]);
    await page.close();
  });
});
