// A person connects their own account in a real browser (Debian's Chromium driven by playwright-core) on the real
// stack: an MCP client calls a tool as alice with no connection, the tool error carries a link, Chromium opens it,
// presses its button, consents at the local provider and lands on the callback page; the same call then runs with
// Alice's token (the API sees it) while Bob still gets his own link. The dashboard's external user page then shows
// the connection (status, scopes) and disconnects it, which revokes the token at the provider. Every page state is
// checked by axe-core. A missing Chromium fails the file (no skip).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
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
} from '../browser.ts';
import { startUserOAuthProvider, type UserOAuthProvider } from '../fixtures/user-oauth-provider.ts';
import { startTestStack, yamlBody } from '../helpers.ts';

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let browser: Browser, page: Page, pageProblems: string[];
let mcpUrl: string;
let instanceId: string;

const descriptor = (p: UserOAuthProvider) => `
metadata: { name: Calendar, slug: calendar, version: "1.0.0" }
authentication:
  - type: oauth2_authorization_code
    authorization_url: "${p.url}/authorize"
    token_url: "${p.tokenUrl}"
    revocation_url: "${p.revocationUrl}"
    scopes: [calendar.read]
    fields:
      - { key: client_id, field_type: string, required: true }
      - { key: client_secret, field_type: secret, required: true, secret: true }
operations:
  - operation_id: my_events
    endpoint: "${p.apiUrl}/events"
    method: GET
    auth_type_ref: oauth2_authorization_code
    parameters: []
mcp_config:
  enabled: true
  server_name: calendar
  server_description: Calendar
  route_mappings:
    - { operation_id: my_events, mcp_tool_name: my_events, mcp_tool_description: "My calendar events" }
`;

/** One `my_events` call through the MCP SDK client, as `username`. */
async function myEvents(username: string): Promise<{ isError: boolean; text: string }> {
  const client = new Client({ name: 'people', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { 'x-api-key': stack.bootstrapKey, 'x-username': username } },
    }),
  );
  try {
    const r = await client.callTool({ name: 'my_events', arguments: {} });
    return { isError: r.isError === true, text: (r.content as { text: string }[])[0]!.text };
  } finally {
    await client.close();
  }
}

/** The connect link an error names (an absolute URL on the control plane). */
function linkIn(text: string): string {
  const link = /(http:\/\/127\.0\.0\.1:\d+\/connect\/[A-Za-z0-9_-]{43})\b/.exec(text)?.[1];
  if (!link) throw new Error(`no connect link in: ${text}`);
  return link;
}

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  provider = await startUserOAuthProvider();
  ({ stack, api } = await startTestStack('user-oauth-browser', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  const connector = await unwrap(api.POST('/connectors', yamlBody(descriptor(provider))));
  const instance = await unwrap(
    api.POST('/connector_instances', {
      body: {
        createServer: false,
        connector_id: connector.id,
        name: 'calendar',
        credentials: { client_id: provider.clientId, client_secret: provider.clientSecret },
      },
    }),
  );
  instanceId = instance.id;
  const server = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'calendar', mode: 'NORMAL', connectorInstanceId: instanceId } }),
  );
  mcpUrl = server.url;
  for (const name of ['alice', 'bob']) await unwrap(api.POST('/external_users', { body: { name } }));
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'all-users', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
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
    await page.getByRole('button', { name: `Continue to ${new URL(provider.url).host}` }).click();
    // The provider consents at once and sends the browser back to the callback page.
    await page.getByRole('heading', { level: 1, name: 'Connected' }).waitFor();
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
    expect(pageProblems).toEqual([]);
  });
});
