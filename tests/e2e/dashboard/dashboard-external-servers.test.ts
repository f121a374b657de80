// The dashboard's page of external MCP servers registered on the workspace, in a real browser against the real stack
// (Debian's Chromium driven by playwright-core, every page state checked by axe-core), with real MCP servers on
// 127.0.0.1: register one with a write-only header, use it from a server created in the dashboard, change its URL and
// one header, remove a header, and see it refused while in use. A missing Chromium fails the file (no skip).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
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
import { startStreamableMcpServer, type ExternalMcpServer } from '../../fixtures/mcp-servers.ts';
import { startTestStack } from '../../helpers/stack.ts';

const HEADER_A = 'Bearer dash-ext-a-5b2c-never-shown';
const HEADER_B = 'Bearer dash-ext-b-9e41-never-shown';

let stack: Stack;
let api: ManagementClient;
let first: ExternalMcpServer;
let second: ExternalMcpServer;
let browser: Browser, page: Page, pageProblems: string[];

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  first = await startStreamableMcpServer({
    tools: [{ name: 'lookup_order', description: 'Find an order', inputSchema: { type: 'object' } }],
    requiredHeader: ['authorization', HEADER_A],
  });
  second = await startStreamableMcpServer({
    tools: [
      { name: 'lookup_order', description: 'Find an order', inputSchema: { type: 'object' } },
      { name: 'refund_order', description: 'Refund an order', inputSchema: { type: 'object' } },
    ],
    requiredHeader: ['authorization', HEADER_B],
  });
  ({ stack } = await startTestStack('dashboard-ext', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await first?.close();
  await second?.close();
});

describe('the dashboard’s external MCP servers', () => {
  it('registers one with a write-only header, uses it from a new server, changes it field by field', async () => {
    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'External MCP servers', 'External MCP servers');
    await page.getByText('No external MCP server registered yet.').waitFor();
    await audit(page, 'external servers (empty)');

    await page.getByLabel('Name', { exact: true }).fill('orders');
    await page.getByLabel('URL', { exact: true }).fill(first.url);
    await page.getByLabel(/^Header name/).fill('Authorization');
    const value = page.getByLabel(/^Header value/);
    expect(await value.getAttribute('type')).toBe('password');
    await value.fill(HEADER_A);
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('status').filter({ hasText: 'Registered orders with 1 tool.' }).waitFor();
    const row = page.getByRole('row').filter({ hasText: 'orders' });
    await row.getByText('lookup_order').waitFor();
    expect(await value.inputValue()).toBe('');
    expect(await page.content()).not.toContain(HEADER_A);
    await audit(page, 'external servers (registered)');

    // A server created in the dashboard uses it by name.
    await page.goto(`${stack.controlPlaneUrl}/servers/new`);
    await page.getByRole('heading', { level: 1, name: 'Create an MCP server' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('uses-orders');
    await page.getByRole('checkbox', { name: /^orders/ }).check();
    await audit(page, 'server create (a registered external server chosen)');
    await page.getByRole('button', { name: 'Create server' }).click();
    await page.getByRole('heading', { level: 1, name: 'uses-orders' }).waitFor();
    await page.getByRole('row').filter({ hasText: '(registered on the workspace)' }).waitFor();
    await audit(page, 'server (uses a registered external server)');
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: 'uses-orders' } } }));
    expect(server.externalMcpServers.map((e) => e.name)).toEqual(['orders']);
    expect(server.tools).toEqual(['lookup_order']);

    // Changed: its URL and the one header; the server follows.
    await openFromNav(page, 'External MCP servers', 'External MCP servers');
    await row.getByRole('link', { name: 'uses-orders' }).waitFor();
    await row.getByRole('button', { name: 'Change orders' }).click();
    const edit = page.getByRole('region', { name: 'Change orders' });
    await edit.getByLabel('URL').fill(second.url);
    await edit.getByLabel(/^Header name/).fill('Authorization');
    await edit.getByLabel(/^Header value/).fill(HEADER_B);
    await audit(page, 'external servers (changing one)');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved orders; 1 server updated.' }).waitFor();
    await row.getByText('lookup_order, refund_order').waitFor();
    expect(await page.content()).not.toContain(HEADER_B);
    const changed = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: 'uses-orders' } } }));
    expect(changed.externalMcpServers[0]!.url).toBe(second.url);
    expect(changed.tools).toEqual(['lookup_order', 'refund_order']);

    // Unregistering is refused while a server uses it.
    await row.getByRole('button', { name: 'Remove orders' }).click();
    await page.getByRole('group', { name: /^Confirm: Unregister orders/ }).waitFor();
    await page.getByRole('button', { name: 'Unregister orders' }).click();
    await page.getByRole('alert').filter({ hasText: 'used by "uses-orders"' }).waitFor();
    await audit(page, 'external servers (unregister refused)');

    // One header removed (the panel is still open), the rest kept.
    expect(await row.getByRole('button', { name: 'Change orders' }).getAttribute('aria-expanded')).toBe('true');
    await edit.getByRole('button', { name: 'Remove header Authorization of orders' }).click();
    await page.getByRole('status').filter({ hasText: 'Removed Authorization from orders' }).waitFor();
    const entry = await unwrap(api.GET('/external_mcp_servers/{id}', { params: { path: { id: 'orders' } } }));
    expect(entry).toMatchObject({ headerNames: [], url: second.url });
    expect(pageProblems).toEqual([]);
  }, 180_000);
});
