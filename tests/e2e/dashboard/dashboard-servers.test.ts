// The dashboard's MCP server pages in a real browser against the real stack (Debian's Chromium driven by
// playwright-core, axe-core on every page state): a server created with an external MCP server whose tools are
// loaded and picked in the form, and the server's catalog version history. Plus the API of that history
// (`GET /mcp_manager/{id}/catalog_versions`). A missing Chromium fails the file (no skip).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
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
import { startStreamableMcpServer, type ExternalMcpServer, type FixtureTool } from '../../fixtures/mcp-servers.ts';
import { startTestStack } from '../../helpers/stack.ts';

const TOKEN = 'Bearer remote-token-5f1c';

const tools: FixtureTool[] = [
  {
    name: 'lookup_order',
    description: 'Find an order by id',
    inputSchema: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] },
  },
  {
    name: 'refund_order',
    description: 'Refund an order',
    inputSchema: { type: 'object', properties: { order_id: { type: 'string' } } },
  },
];

let stack: Stack;
let api: ManagementClient;
let remote: ExternalMcpServer;
let serverId: string;

/** Chromium, its dashboard page, and what the page reported as broken (uncaught errors, CSP refusals). */
let browser: Browser, page: Page, pageProblems: string[];

/** The status of a management call that is expected to fail. */
async function failure(call: Promise<unknown>): Promise<ApiError> {
  return call.then(
    () => {
      throw new Error('the call succeeded');
    },
    (e: unknown) => e as ApiError,
  );
}

/** The dashboard build this file's control plane serves. */
let build: string;

beforeAll(async () => {
  build = buildDashboard();
  browser = await launchChromium();
  remote = await startStreamableMcpServer({ tools, requiredHeader: ['authorization', TOKEN] });
  ({ stack, api } = await startTestStack('dashboard-servers', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await remote?.close();
});

describe('the dashboard’s MCP server pages', () => {
  it('creates a server with an external MCP server’s picked tool, then shows its catalog versions grow', async () => {
    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'MCP servers', 'MCP servers');
    await page.getByRole('link', { name: 'Create a server' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create an MCP server' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('orders');

    // The external server, with its secret header in a password field.
    await page.getByRole('button', { name: 'Add an external MCP server' }).click();
    await page.getByLabel('Name of external server 1').fill('shop');
    await page.getByLabel('URL of external server 1').fill(remote.url);
    await page.getByRole('button', { name: 'Add a header' }).click();
    await page.getByLabel('Header name').fill('authorization');
    const value = page.getByLabel('Header value');
    expect(await value.getAttribute('type')).toBe('password');
    await value.fill(TOKEN);
    await audit(page, 'server creation (external server)');

    // Its tools, previewed through the worker; one picked, its input schema on expand.
    await page.getByRole('button', { name: 'Load tools of shop' }).click();
    const list = page.getByRole('list', { name: 'Tools of shop' });
    await list.waitFor();
    expect(await list.getByRole('listitem').count()).toBe(2);
    expect(remote.requests.some((h) => h.authorization === TOKEN)).toBe(true);
    await list.getByRole('checkbox', { name: /lookup_order/ }).check();
    await page.getByText('1 selected.').waitFor();
    await list.getByText('Input schema of lookup_order').click();
    const schema = page.getByLabel('Input schema of lookup_order', { exact: true });
    await schema.waitFor();
    expect(await schema.innerText()).toContain('order_id');
    await audit(page, 'server creation (external tools loaded)');

    await page.getByRole('button', { name: 'Create server' }).click();
    await page.getByRole('heading', { level: 1, name: 'orders' }).waitFor();
    await page.getByRole('heading', { name: 'Tools (1)' }).waitFor();
    await page.locator('ul.tools').getByText('lookup_order', { exact: true }).waitFor();
    const external = page.getByRole('table', { name: 'External MCP servers' });
    await external.getByRole('cell', { name: 'authorization (values sealed)' }).waitFor();
    await external.getByRole('cell', { name: 'lookup_order', exact: true }).waitFor();
    const history = page.getByRole('table', { name: 'Catalog versions' });
    await history.getByRole('row').filter({ hasText: 'First version: 1 tool(s).' }).waitFor();
    expect(await page.content()).not.toContain('remote-token-5f1c');
    await audit(page, 'server (first version)');
    serverId = /\/servers\/([^/?#]+)/.exec(page.url())![1]!;

    const created = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: serverId } } }));
    expect(created.externalMcpConfigs).toEqual([
      expect.objectContaining({ tools: ['lookup_order'], headerNames: ['authorization'] }),
    ]);

    // A change through the API: the other tool instead. The history shows what it added and removed.
    await unwrap(
      api.PATCH('/mcp_manager/{id}', {
        params: { path: { id: serverId } },
        body: {
          externalMcpConfigs: [
            { name: 'shop', url: remote.url, headers: { authorization: TOKEN }, tools: ['refund_order'] },
          ],
        },
      }),
    );
    await page.getByRole('button', { name: 'Refresh versions' }).click();
    const second = history.locator('tr[data-version="2"]');
    await second.waitFor();
    expect(await second.innerText()).toMatch(/2\s*\(live\)/);
    await second.getByText('refund_order').waitFor();
    expect(await second.getByRole('listitem').allInnerTexts()).toEqual(['added refund_order', 'removed lookup_order']);
    expect(await history.locator('tr[data-version="1"]').innerText()).not.toContain('live');
    await audit(page, 'server (second version)');

    // A reload shows the new tool list too.
    await page.reload();
    await page.getByRole('heading', { name: 'Tools (1)' }).waitFor();
    await page.locator('ul.tools').getByText('refund_order', { exact: true }).waitFor();
    await history.locator('tr[data-version="2"]').waitFor();
    await audit(page, 'server (reloaded)');
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('exports the workspace as files, and marks the servers files manage', async () => {
    // A server applied from a directory of one file (ADR 0042): the files manage it now.
    await unwrap(
      api.POST('/workspace_files/apply', {
        body: { files: [{ path: 'mcp-servers/from-files.yaml', content: 'name: from-files\nmode: NORMAL\n' }] },
      }),
    );
    await openFromNav(page, 'MCP servers', 'MCP servers');
    const marker = (name: string) =>
      page.getByRole('row').filter({ hasText: name }).getByText('files', { exact: true });
    await marker('from-files').waitFor();
    expect(await marker('orders').count()).toBe(0);
    await audit(page, 'servers with a managed one');
    await openFromNav(page, 'Overview', 'Overview');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export as files' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('workspace.tar');
    // A tar archive: the entries are the export's file names, each file's text after its header.
    const tar = readFileSync(await download.path()).toString('latin1');
    expect(tar).toContain('mcp-servers/from-files.yaml');
    expect(tar).toContain('mcp-servers/orders.yaml');
    expect(tar).not.toContain(TOKEN);
    expect(pageProblems).toEqual([]);
  });

  it('lists the catalog versions over the API: newest first, paged, by id or name; 404 elsewhere', async () => {
    const all = await unwrap(api.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: 'orders' } } }));
    expect(all.nextBefore).toBeNull();
    expect(all.data).toEqual([
      {
        version: 2,
        createdAt: expect.any(String),
        live: true,
        previousVersion: 1,
        tools: ['refund_order'],
        added: ['refund_order'],
        removed: ['lookup_order'],
      },
      {
        version: 1,
        createdAt: expect.any(String),
        live: false,
        previousVersion: null,
        tools: ['lookup_order'],
        added: ['lookup_order'],
        removed: [],
      },
    ]);
    // A page of one still compares with the version before it.
    const first = await unwrap(
      api.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: serverId }, query: { limit: 1 } } }),
    );
    expect(first.data.map((v) => [v.version, v.removed])).toEqual([[2, ['lookup_order']]]);
    expect(first.nextBefore).toBe(2);
    const rest = await unwrap(
      api.GET('/mcp_manager/{id}/catalog_versions', {
        params: { path: { id: serverId }, query: { limit: 1, before: 2 } },
      }),
    );
    expect(rest.data.map((v) => v.version)).toEqual([1]);
    expect(rest.nextBefore).toBeNull();

    expect(
      (
        await failure(
          unwrap(api.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: 'no-such-server' } } })),
        )
      ).status,
    ).toBe(404);
    expect(
      (
        await failure(
          unwrap(
            api.GET('/mcp_manager/{id}/catalog_versions', {
              params: { path: { id: '00000000-0000-4000-8000-000000000000' } },
            }),
          ),
        )
      ).status,
    ).toBe(404);
    expect(
      (
        await failure(
          unwrap(
            api.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: serverId }, query: { limit: 0 } } }),
          ),
        )
      ).status,
    ).toBe(422);

    // A key limited to another server does not see this one's history (as if it were in another workspace).
    const other = await unwrap(api.POST('/mcp_manager', { body: { name: 'other', mode: 'NORMAL' } }));
    const limited = await unwrap(
      api.POST('/api_keys', { body: { name: 'only-other', scopes: ['management'], serverIds: [other.id] } }),
    );
    const limitedApi = createManagementClient(stack.controlPlaneUrl, limited.key);
    for (const ref of [serverId, 'orders'])
      expect([403, 404]).toContain(
        (await failure(unwrap(limitedApi.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: ref } } }))))
          .status,
      );
    const own = await unwrap(
      limitedApi.GET('/mcp_manager/{id}/catalog_versions', { params: { path: { id: 'other' } } }),
    );
    expect(own.data.map((v) => [v.version, v.live, v.tools])).toEqual([[1, true, []]]);
  });
});
