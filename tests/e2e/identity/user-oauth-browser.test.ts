// A person connects their own account in a real browser (Debian's Chromium driven by playwright-core) on the real
// stack: an MCP client calls a tool as alice with no connection, the tool error carries a link, Chromium opens it,
// presses its button, consents at the local provider and lands on the callback page; the same call then runs with
// Alice's token (the API sees it) while Bob still gets his own link. The dashboard's external user page then shows
// the connection (status, scopes) and disconnects it, which revokes the token at the provider. Every page state is
// checked by axe-core. A missing Chromium fails the file (no skip). The provider's authorization page is on another
// site (localhost) than the control plane (127.0.0.1), as real providers are, and asks the person to allow access: the
// connect page's cookie must come back with the redirect that follows that click on another site's page (a
// SameSite=Strict cookie does not: tried, the callback then refuses alice's own flow). A page on a third site cannot
// press mallory's link in another person's browser, and a provider callback reached in a browser that did not press
// the button connects nobody.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import type { Browser, Page } from 'playwright-core';
import {
  audit,
  buildDashboard,
  dashboardEnv,
  launchChromium,
  newDashboardPage,
  openFromNav,
  signIn,
} from '../../helpers/browser.ts';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestStack } from '../../helpers/stack.ts';
import {
  callToolAs,
  connectLinkIn,
  openConnectPage,
  pressConnectLink,
  setUpCalendar,
} from '../../fixtures/calendar-connector.ts';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let browser: Browser, page: Page, pageProblems: string[];
let mcpUrl: string;

const myEvents = (username: string) =>
  callToolAs(mcpUrl, stack.bootstrapKey, username).then(({ isError, text }) => ({ isError, text }));
const linkIn = connectLinkIn;

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  provider = await startUserOAuthProvider({ authorizeHost: 'localhost', consentPage: true });
  ({ stack, api } = await startTestStack('user-oauth-browser', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  const calendar = await setUpCalendar(api, provider, ['alice', 'bob', 'mallory']);
  mcpUrl = calendar.server.url;
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await provider?.close();
});

describe('a person connects their own account in a browser, and the dashboard shows and ends it', () => {
  it('opens the link from the tool error, consents at the provider, and the same call then runs as alice', async () => {
    const first = await myEvents('alice');
    expect(first.isError).toBe(true);
    expect(first.text).toContain('User "alice" has not connected');
    const link = linkIn(first.text);
    provider.consentAs = 'alice';

    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Connect your account' }).waitFor();
    expect(await page.getByRole('main').innerText()).toContain('for alice');
    await audit(page, 'connect link');
    await page.getByRole('button', { name: `Continue to ${new URL(provider.authorizeUrl).host}` }).click();
    // alice allows access on the provider's page (another site), which sends the browser back to the callback page.
    await page.getByRole('link', { name: 'Allow' }).click();
    await page.getByRole('heading', { level: 1, name: 'Connected', exact: true }).waitFor();
    expect(await page.getByRole('main').innerText()).toContain('You can return to your agent now.');
    expect(new URL(page.url()).pathname).toBe('/connect/callback');
    await audit(page, 'connect callback (connected)');
    expect(provider.authorizeRequests.at(-1)).toMatchObject({
      code_challenge_method: 'S256',
      client_id: provider.clientId,
    });

    expect(await myEvents('alice')).toEqual({
      isError: false,
      text: JSON.stringify({ user: 'alice', path: '/events' }),
    });
    expect(provider.apiCalls.at(-1)).toMatchObject({ user: 'alice', status: 200 });
    // Bob is not alice: his call still gets his own link.
    const bob = await myEvents('bob');
    expect(bob.isError).toBe(true);
    expect(linkIn(bob.text)).not.toBe(link);

    // The link worked once: opened again, it says it has expired.
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'This link has expired' }).waitFor();
    await audit(page, 'connect link (used)');

    // The person's connect is in the audit trail, alice as the actor; no token or code in it.
    const [connect, ...more] = (
      await unwrap(api.GET('/audit_events', { params: { query: { action: 'person.connect' } } }))
    ).data;
    expect(more).toEqual([]);
    expect(connect).toMatchObject({
      actor: { type: 'person', name: 'alice' },
      action: 'person.connect',
      resource: { type: 'user_connection' },
      outcome: 'success',
    });
    for (const token of provider.issuedTokens()) expect(JSON.stringify(connect)).not.toContain(token);
  });

  it("shows alice's own account on her page, and disconnecting it revokes the token at the provider", async () => {
    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'External users', 'External users');
    await page.getByRole('link', { name: 'alice', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'External user alice' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'Own account' });
    await row.waitFor();
    const text = await row.innerText();
    expect(text).toContain('calendar');
    expect(text).toMatch(/Connected \(token renewed before /);
    expect(text).toContain('calendar.read');
    await audit(page, 'external user (own account connected)');
    for (const token of provider.issuedTokens()) expect(await page.content()).not.toContain(token);

    const revocations = provider.revocations.length;
    await row.getByRole('button', { name: 'Disconnect the connection to calendar' }).click();
    const confirm = page.getByRole('group', { name: /^Confirm: Disconnect alice’s account for calendar/ });
    await confirm.waitFor();
    await audit(page, 'external user (confirm disconnect)');
    await confirm.getByRole('button', { name: 'Disconnect the account' }).click();
    await page.getByRole('status').filter({ hasText: 'The provider revoked the access.' }).waitFor();
    await page.getByText('No connection yet.').waitFor();
    expect(provider.revocations.length).toBe(revocations + 1);
    expect(provider.revocations.at(-1)!.hint).toBe('refresh_token');
    expect((await myEvents('alice')).text).toContain('User "alice" has not connected');
    // The disconnect is in the audit trail too: who ended it, and the connection it ended.
    const [disconnect] = (
      await unwrap(api.GET('/audit_events', { params: { query: { action: 'user_connection.delete' } } }))
    ).data;
    expect(disconnect).toMatchObject({ actor: { type: 'api_key', name: 'bootstrap' }, outcome: 'success' });
    expect(disconnect!.resource).toEqual({ type: 'user_connection', id: expect.any(String) });
    expect(pageProblems).toEqual([]);
  });
});

describe("mallory's link cannot connect another person's account", () => {
  let attacker: Server;
  afterAll(async () => {
    attacker?.closeAllConnections();
    await new Promise((resolve) => attacker?.close(resolve));
  });

  it('a page on another site auto-submitting her link in alice’s browser connects nobody; nothing reaches the provider', async () => {
    const link = linkIn((await myEvents('mallory')).text);
    // The attacker's page, on another site (localhost): a form posting mallory's link, with the nonce of her own
    // visit, sent by script as soon as alice's browser opens the page.
    const { nonce } = await openConnectPage(link);
    attacker = createServer((_req, res) => {
      res
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><html lang="en"><head><title>Win a prize</title></head><body>` +
            `<form method="post" action="${link}"><input type="hidden" name="nonce" value="${nonce ?? ''}"></form>` +
            `<script>document.forms[0].submit()</script></body></html>`,
        );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    provider.consentAs = 'alice'; // alice is signed in at the provider
    const authorizations = provider.authorizeRequests.length;
    const issued = provider.issuedTokens().length;

    const alice = await browser.newContext();
    try {
      const tab = await alice.newPage();
      await tab.goto(`http://localhost:${(attacker.address() as AddressInfo).port}/`);
      await tab.waitForURL((url) => url.hostname === '127.0.0.1');
      const heading = tab.getByRole('heading', { level: 1 });
      await heading.waitFor();
      expect(await heading.innerText()).toBe('Not connected');
      expect(await tab.getByRole('main').innerText()).toContain('open the link again');
      await audit(tab, 'connect link (pressed from another site)');
    } finally {
      await alice.close();
    }
    expect(provider.authorizeRequests.length).toBe(authorizations);
    expect(provider.issuedTokens().length).toBe(issued);
    expect((await myEvents('mallory')).text).toContain('User "mallory" has not connected');
    // Her link was not used up: she can still connect her own account with it.
    expect((await pressConnectLink(link)).response.status).toBe(303);
  });

  it("the provider's callback for mallory's flow, reached in alice's browser, connects nobody", async () => {
    // mallory presses her own link and, instead of consenting, has alice open the provider's page.
    provider.consentAs = undefined;
    const link = linkIn((await myEvents('mallory')).text);
    const { response } = await pressConnectLink(link);
    const authorize = response.headers.get('location')!;
    expect(new URL(authorize).host).toBe(new URL(provider.authorizeUrl).host);
    provider.consentAs = 'alice';
    const issued = provider.issuedTokens().length;
    const alice = await browser.newContext();
    try {
      const tab = await alice.newPage();
      await tab.goto(authorize);
      await tab.getByRole('link', { name: 'Allow' }).click();
      await tab.waitForURL((url) => url.pathname === '/connect/callback');
      const heading = tab.getByRole('heading', { level: 1 });
      await heading.waitFor();
      expect(await heading.innerText()).toBe('Not connected');
      expect(await tab.getByRole('main').innerText()).toContain('another browser');
      await audit(tab, 'connect callback (another browser)');
    } finally {
      await alice.close();
    }
    expect(provider.issuedTokens().length).toBe(issued);
    expect((await myEvents('mallory')).text).toContain('User "mallory" has not connected');
  });
});
