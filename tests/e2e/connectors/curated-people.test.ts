// A new user's first run, offline, in a real browser (Debian's Chromium driven by playwright-core; every page state
// checked by axe-core): Slack and Google Calendar set up from the dashboard's API catalog page (their tools, the
// workspace's OAuth app, and, since this machine reaches no provider, where the provider is: its API mocked from its
// own OpenAPI document by tests/fixtures/provider-mock.ts, its OAuth endpoints served by the local OAuth provider),
// then a person connects their own account through the link an MCP client's call returns, and the same call runs
// with that person's token, accepted by the provider's mock. A missing Chromium fails the file (no skip).
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
  signIn,
} from '../../helpers/browser.ts';
import { connectLinkIn, mcpClientAs } from '../../fixtures/calendar-connector.ts';
import { argumentsFor, type ProviderMock, startProviderMock } from '../../fixtures/provider-mocks.ts';
import { startUserOAuthProvider, type UserOAuthProvider } from '../../fixtures/user-oauth-provider.ts';
import { startTestStack } from '../../helpers/stack.ts';

type Json = Record<string, unknown>;

let stack: Stack;
let api: ManagementClient;
let provider: UserOAuthProvider;
let browser: Browser, page: Page, pageProblems: string[];
const mocks = new Map<string, ProviderMock>();

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  provider = await startUserOAuthProvider({ authorizeHost: 'localhost', consentPage: true });
  for (const slug of ['slack', 'google-calendar']) mocks.set(slug, await startProviderMock(slug));
  ({ stack, api } = await startTestStack('curated-people', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  await unwrap(api.POST('/external_users', { body: { name: 'alice' } }));
  await unwrap(
    api.POST('/access_policies', {
      body: { name: 'people', principals: [{ type: 'external_user', value: '*' }], servers: ['*'], tools: ['*'] },
    }),
  );
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await provider?.close();
  for (const m of mocks.values()) m.close();
});

/** Sets a curated connector up from the catalog page, people's accounts, pointed at the mocks: its server's URL. */
async function setUpFromDashboard(name: string, slug: string, tools: string[]): Promise<string> {
  await page.goto('/catalog');
  const row = page.getByRole('table', { name: 'Curated connectors' }).locator(`tr[data-slug="${slug}"]`);
  await row.getByRole('button', { name: `Set up ${name}` }).click();
  const form = page.getByRole('form', { name: `Set up ${name}` });
  for (const box of await form.getByRole('checkbox').all())
    if (!tools.includes((await box.getAttribute('id'))!.replace(`setup-${slug}-tool-`, ''))) await box.uncheck();
  await form.getByLabel(/^OAuth app client id/).fill(provider.clientId);
  await form.getByLabel(/^OAuth app client secret/).fill(provider.clientSecret);
  await form.getByText('Where the provider is').click();
  await form.getByLabel('API base URL').fill(mocks.get(slug)!.url);
  await form.getByLabel('OAuth authorization URL').fill(provider.authorizeUrl);
  await form.getByLabel('OAuth token URL').fill(provider.tokenUrl);
  await audit(page, `API catalog (setting up ${name})`);
  await form.getByRole('button', { name: `Set up ${name}` }).click();
  const done = page.getByRole('status').filter({ hasText: `Set up ${name}: server` });
  await done.waitFor();
  await audit(page, `API catalog (${name} set up)`);
  return (await done.locator('code').innerText()).trim();
}

/** A call as alice: the first one returns a connect link; alice connects in the browser; the same call then runs. */
async function connectAndCall(url: string, tool: string, slug: string): Promise<void> {
  const client = await mcpClientAs(url, stack.bootstrapKey, 'alice');
  try {
    const { tools } = await client.listTools();
    const schema = tools.find((t) => t.name === tool)!.inputSchema as Json;
    const args = argumentsFor(schema) as Record<string, unknown>;
    const first = await client.callTool({ name: tool, arguments: args });
    expect(first.isError).toBe(true);
    provider.consentAs = 'alice';
    await page.goto(connectLinkIn((first.content as { text: string }[])[0]!.text));
    await page.getByRole('button', { name: /^Continue to / }).click();
    await page.getByRole('link', { name: 'Allow' }).click();
    await page.getByRole('heading', { level: 1, name: 'Connected', exact: true }).waitFor();
    const mock = mocks.get(slug)!;
    const before = (await mock.log()).seen.length;
    const again = await client.callTool({ name: tool, arguments: args });
    expect(again.isError).toBeFalsy();
    const { seen, refused } = await mock.log();
    expect(refused).toEqual([]);
    expect(seen.length).toBe(before + 1);
    // Alice's own token, as the local provider issued it to her.
    const token = seen.at(-1)!.authorization!.replace(/^Bearer /, '');
    expect(provider.issuedTokens()).toContain(token);
  } finally {
    await client.close();
  }
}

describe('a first run, offline: Slack and Google Calendar from the dashboard, a person connected', () => {
  it('sets both up in the dashboard; alice connects her accounts and an MCP client calls their tools', async () => {
    await signIn(page, stack.bootstrapKey);
    const slack = await setUpFromDashboard('Slack', 'slack', ['post_message', 'list_channels']);
    const calendar = await setUpFromDashboard('Google Calendar', 'google-calendar', ['list_events', 'create_event']);
    const listed = await mcpClientAs(slack, stack.bootstrapKey, 'alice');
    try {
      expect((await listed.listTools()).tools.map((t) => t.name).sort()).toEqual(['list_channels', 'post_message']);
    } finally {
      await listed.close();
    }
    await connectAndCall(slack, 'post_message', 'slack');
    await connectAndCall(calendar, 'list_events', 'google-calendar');
    expect(pageProblems).toEqual([]);
  }, 120_000);
});
