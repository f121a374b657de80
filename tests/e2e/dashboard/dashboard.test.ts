// The web dashboard (packages/dashboard) in a real browser against the real stack: Debian's Chromium driven by
// playwright-core, every page checked by axe-core, screenshots for docs/images/ (UPDATE_SCREENSHOTS=1). A missing Chromium fails
// the file (no skip).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
import type { Browser, Page } from 'playwright-core';
import {
  audit,
  buildDashboard,
  dashboardEnv,
  launchChromium,
  newDashboardPage,
  openFromNav,
  screenshotsDir,
  signOut,
} from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Where the screenshots go: docs/images/ with UPDATE_SCREENSHOTS=1, else a scratch directory. */
let images: string;

let stack: Stack;
/** The dashboard build this file's control plane serves. */
let dist: string;
let api: ManagementClient;
let upstream: TicketSystem;

/** Chromium, its dashboard page, and what the page reported as broken (uncaught errors, CSP refusals). */
let browser: Browser, page: Page, pageProblems: string[];

beforeAll(async () => {
  dist = buildDashboard();
  browser = await launchChromium();
  upstream = await startTicketSystem({ apiKey: 'ticket-key' });
  ({ stack, api } = await startTestStack('dashboard', { logLevel: 'warn', serviceEnv: dashboardEnv(dist) }));
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
  images = screenshotsDir();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await upstream?.close();
});

describe('the dashboard', () => {
  it('keeps the initial JavaScript (the entry module and its static imports) within 300 kB gzipped', () => {
    const html = readFileSync(join(dist, 'index.html'), 'utf8');
    const entry = /<script type="module"[^>]*src="\/([^"]+)"/.exec(html)?.[1];
    expect(entry).toBeDefined();
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(join(dist, file), 'utf8');
      // Static imports of a Vite chunk: `import{a}from"./x.js"`, `import"./x.js"` (not `import("./x.js")`).
      for (const m of code.matchAll(/\bimport\s*(?:[\w$*{}\s,]+from\s*)?["']([^"']+\.js)["']/g))
        visit(join(dirname(file), m[1]!));
    };
    visit(entry!);
    const gzipped = [...seen].reduce((sum, f) => sum + gzipSync(readFileSync(join(dist, f))).length, 0);
    process.stdout.write(`dashboard initial JavaScript: ${seen.size} file(s), ${gzipped} bytes gzipped\n`);
    expect(gzipped).toBeLessThanOrEqual(300_000);
  });

  it('signs in, uploads connectors, creates an instance and a server, and shows a call’s record', async () => {
    // Sign in.
    const started = Date.now();
    await page.goto(`${stack.controlPlaneUrl}/`);
    await page.getByLabel('API key').waitFor();
    process.stdout.write(`dashboard first page (sign-in form shown): ${Date.now() - started} ms\n`);
    await audit(page, 'sign-in');
    await page.getByLabel('API key').fill('not-a-key-of-this-workspace');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('API key').fill(stack.bootstrapKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.getByText('No calls in this window.').waitFor();
    await audit(page, 'overview (empty)');
    await page.getByRole('link', { name: 'create one' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create an MCP server' }).waitFor();
    await openFromNav(page, 'MCP servers', 'MCP servers');
    await page.getByText('No MCP server yet').waitFor();
    await audit(page, 'servers (empty)');

    // A broken descriptor: every problem at its line:column, the lines marked.
    await openFromNav(page, 'Connectors', 'Connectors');
    await page.getByText('No connector yet').waitFor();
    await audit(page, 'connectors (empty)');
    const broken = ticketSystemDescriptorYaml
      .replace('  version: "1.0.0"\n', '')
      .replace(
        '    - operation_id: get_ticket\n      mcp_tool_name',
        '    - operation_id: no_such_op\n      mcp_tool_name',
      );
    const lines = broken.split('\n');
    const unknownLine = lines.findIndex((l) => l.includes('operation_id: no_such_op')) + 1;
    const metadataLine = lines.findIndex((l) => l.startsWith('metadata:')) + 1;
    await page.getByLabel('Or paste it').fill(broken);
    await page.getByRole('button', { name: 'Upload connector' }).click();
    const issues = page.getByRole('list', { name: 'Problems of the document' });
    await issues.waitFor();
    const shown = await issues.getByRole('listitem').allInnerTexts();
    expect(shown).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${unknownLine}:7: .*\\(/mcp_config/route_mappings/1/operation_id\\)$`)),
        expect.stringMatching(new RegExp(`^${metadataLine}:1: .*\\(/metadata/version\\)$`)),
      ]),
    );
    const marked = await page.locator('.docview li.marked').evaluateAll((els) => els.map((e) => e.dataset.line));
    expect(marked).toEqual(expect.arrayContaining([String(unknownLine), String(metadataLine)]));
    await audit(page, 'connectors (invalid document)');

    // The seed-001 descriptor, from a file.
    await page.getByLabel(/file/).setInputFiles({
      name: 'descriptor.yaml',
      mimeType: 'application/yaml',
      buffer: Buffer.from(ticketSystemDescriptorYaml),
    });
    await waitFor(
      'the file in the text area',
      async () => !(await page.getByLabel('Or paste it').inputValue()).includes('no_such_op'),
    );
    await page.getByRole('button', { name: 'Upload connector' }).click();
    await page.getByRole('status').filter({ hasText: 'Created Ticket System' }).waitFor();
    await page.getByRole('cell', { name: 'ticket-system', exact: true }).waitFor();
    // Its capabilities and SLA (seed 001's blocks), in a few words.
    await page
      .getByRole('cell', { name: 'full_refresh sync · no schema discovery · 99.5% availability · p95 1500 ms' })
      .waitFor();
    await audit(page, 'connectors (listed)');

    // An instance on the real upstream, tested.
    await openFromNav(page, 'Connector instances', 'Connector instances');
    await page.getByText('No connector instance yet').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('tickets');
    await page.getByLabel(/Base URL/).fill(upstream.url);
    await page.getByLabel(/API Key/).fill('ticket-key');
    expect(await page.getByLabel(/API Key/).getAttribute('type')).toBe('password');
    await page.getByRole('button', { name: 'Create instance' }).click();
    await page.getByRole('status').filter({ hasText: 'Created tickets' }).waitFor();
    await page.getByRole('button', { name: 'Test tickets' }).click();
    await page.getByRole('status').filter({ hasText: 'Passed: HTTP 200' }).waitFor();
    await audit(page, 'connector instances');

    // A NORMAL server with two tools chosen in the picker.
    await openFromNav(page, 'MCP servers', 'MCP servers');
    await page.getByRole('link', { name: 'Create a server' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create an MCP server' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('support');
    await page.getByLabel('Description').fill('Support desk tools');
    await page.getByLabel('Connector instance', { exact: true }).selectOption({ label: 'tickets' });
    const search = page.getByLabel('Search tools');
    await search.waitFor();
    await expect(page.locator('ul.tools > li').count()).resolves.toBe(3);
    await search.fill('get');
    await page.getByRole('checkbox', { name: /search_tickets/ }).waitFor({ state: 'detached' });
    await page.getByRole('checkbox', { name: /get_ticket/ }).check();
    await page.getByText('Input schema of get_ticket').click();
    const schema = page.getByLabel('Input schema of get_ticket', { exact: true });
    await schema.waitFor();
    expect(await schema.innerText()).toContain('ticket_id');
    await search.fill('search');
    await page.getByRole('checkbox', { name: /search_tickets/ }).check();
    await search.fill('');
    await page.getByText('2 selected.').waitFor();
    await page.getByText('Input schema of get_ticket').click();
    await schema.waitFor();
    await audit(page, 'server creation');
    await page.screenshot({ path: join(images, 'dashboard-create-server.png'), fullPage: true });
    await page.getByRole('button', { name: 'Create server' }).click();
    await page.getByRole('heading', { level: 1, name: 'support' }).waitFor();
    const mcpUrl = await page.getByTestId('mcp-url').innerText();
    expect(mcpUrl.startsWith(stack.edgeUrl)).toBe(true);
    await page.getByRole('heading', { name: 'Tools (2)' }).waitFor();
    const inspector = page.getByLabel('MCP Inspector (command line)', { exact: true });
    // The arguments tests/e2e/calls/walking-skeleton.test.ts runs the inspector with (without the
    // transport it failed); the URL has its own copy button; each block is as wide as the page, nothing cut off.
    expect(await inspector.innerText()).toBe(
      `npx @modelcontextprotocol/inspector --cli ${mcpUrl} --transport http --header "x-api-key: YOUR_API_KEY" ` +
        '--method tools/list',
    );
    await page.getByRole('button', { name: 'Copy the MCP URL' }).waitFor();
    expect(await inspector.evaluate((pre) => pre.scrollWidth <= pre.clientWidth)).toBe(true);
    for (const client of ['Claude Desktop', 'Cursor', 'VS Code'])
      JSON.parse(
        await page
          .getByLabel(new RegExp(`^${client} \\(`))
          .last()
          .innerText(),
      );
    await audit(page, 'server');

    // A call through MCP, then its record.
    const res = await postMcp(
      mcpUrl,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } },
      },
      { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' },
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('TCK-1');
    await waitFor('the call’s execution record', async () => {
      const listed = await unwrap(api.GET('/execution_records'));
      return listed.data.some((r) => r.tool === 'get_ticket');
    });
    await openFromNav(page, 'Execution records', 'Execution records');
    await page.getByLabel('Server').selectOption({ label: 'support' });
    await page.waitForURL(/server_id=/);
    await page.getByLabel('Outcome').selectOption('success');
    await page.waitForURL(/outcome=success/);
    const row = page.getByRole('row').filter({ hasText: 'get_ticket' });
    await row.waitFor();
    await audit(page, 'records');
    await row.getByRole('link').click();
    await page.getByRole('heading', { level: 2, name: 'Timeline' }).waitFor();
    const step = page.locator('ol.timeline:not(.session-timeline) > li');
    await expect(step.count()).resolves.toBe(1);
    const stepText = await step.innerText();
    expect(stepText).toContain('/api/v1/tickets/TCK-1');
    expect(stepText).toContain('HTTP 200');
    await audit(page, 'record');

    // The server's secret its workflow reads: typed once into a password field, then appears nowhere in the page.
    await openFromNav(page, 'Secrets', 'Secrets');
    await page.getByText('No secret yet.').waitFor();
    await audit(page, 'secrets (empty)');
    await page.getByLabel('Show the secrets of').selectOption({ label: 'Server support' });
    await page.waitForURL(/secrets\?server=/);
    await page.getByRole('heading', { level: 2, name: 'Secrets of the server support' }).waitFor();
    await page.getByText('No secret yet.').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('TICKETS_KEY');
    const valueField = page.getByLabel(/^Value/);
    expect(await valueField.getAttribute('type')).toBe('password');
    await valueField.fill('ticket-key');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('status').filter({ hasText: 'Created TICKETS_KEY' }).waitFor();
    await page.getByRole('cell', { name: 'TICKETS_KEY', exact: true }).waitFor();
    expect(await valueField.inputValue()).toBe('');
    expect(await page.content()).not.toContain('ticket-key');
    await audit(page, 'secrets (server, set)');

    // A workflow document: validated (its problem at its line), then deployed, in the server's history.
    await openFromNav(page, 'Workflows', 'Workflows');
    await page.getByLabel('Server', { exact: true }).selectOption({ label: 'support' });
    const flower = (extra: string) =>
      [
        'flower: "0.1"',
        'id: tickets-flow',
        'flows:',
        '  - id: open_tickets',
        '    description: The open tickets',
        '    steps:',
        '      - id: list',
        '        request:',
        '          method: GET',
        `          url: ${upstream.url}/api/v1/tickets?status=open`,
        '          headers: { X-API-Key: $secrets.TICKETS_KEY }',
        ...(extra ? [extra] : []),
        '',
      ].join('\n');
    await page.getByLabel(/Flower 0.1 or Arazzo/).fill(flower('          whatever: 1'));
    await page.getByRole('button', { name: 'Validate' }).click();
    const workflowIssues = page.getByRole('list', { name: 'Problems of the workflow document' });
    await workflowIssues.waitFor();
    expect(await workflowIssues.innerText()).toMatch(/^12:11: .*\(\/flows\/0\/steps\/0\/request\/whatever\)$/m);
    await expect(page.locator('.docview li.marked').getAttribute('data-line')).resolves.toBe('12');
    await audit(page, 'workflows (invalid)');
    await page.getByLabel(/Flower 0.1 or Arazzo/).fill(flower(''));
    await page.getByRole('button', { name: 'Validate' }).click();
    await page.getByRole('status').filter({ hasText: 'it would give the tools open_tickets' }).waitFor();
    await page.getByRole('button', { name: 'Deploy' }).click();
    await page.getByRole('status').filter({ hasText: 'Deployed' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'active' }).waitFor();
    await audit(page, 'workflows (deployed)');
    await page.screenshot({ path: join(images, 'dashboard-workflow.png'), fullPage: true });

    // "Try a tool" on the server's page: a form generated from the tool's input schema, called from the browser
    // on the edge (another origin, which allows the dashboard's: CORS).
    await openFromNav(page, 'MCP servers', 'MCP servers');
    await page.getByRole('link', { name: 'support', exact: true }).click();
    await page.getByRole('heading', { name: 'Try a tool' }).waitFor();
    await page.getByLabel('Tool', { exact: true }).selectOption('get_ticket');
    expect(await page.getByLabel(/^ticket_id/).getAttribute('required')).not.toBeNull();
    await page.getByLabel(/^ticket_id/).fill('TCK-1');
    await page.getByRole('button', { name: 'Call tool' }).click();
    const outcome = page.getByRole('status').filter({ has: page.getByLabel('Tool result') });
    await outcome.waitFor();
    expect(await outcome.locator('p').innerText()).toBe('Result');
    expect(await page.getByLabel('Tool result').innerText()).toContain('Login page returns 500');
    await audit(page, 'try a tool (result)');

    // The deployed Flower workflow from "Try a tool", then its record: each step of the run in the timeline.
    await page.getByLabel('Tool', { exact: true }).selectOption('open_tickets');
    await page.getByRole('button', { name: 'Call tool' }).click();
    await outcome.waitFor();
    expect(await outcome.locator('p').innerText()).toBe('Result');
    const recordLink = page.getByRole('link', { name: 'Open its record' });
    await recordLink.waitFor();
    await audit(page, 'try a tool (record found)');
    await recordLink.click();
    await page.getByRole('heading', { level: 2, name: 'Timeline' }).waitFor();
    await expect(page.getByRole('heading', { level: 1 }).innerText()).resolves.toContain('open_tickets');
    const titles = await page.locator('ol.timeline:not(.session-timeline) .node-title').allInnerTexts();
    expect(titles).toEqual([
      'flow.run open_tickets',
      'step.run list',
      `action.run GET ${upstream.url}/api/v1/tickets?status=open`,
    ]);
    expect(await page.locator('ol.timeline li.action-run .node-facts').innerText()).toContain('HTTP 200');
    await audit(page, 'record (workflow run)');
    await page.screenshot({ path: join(images, 'dashboard-record.png'), fullPage: true });

    // A debug session started from the server's page: a call appears in the live tail, its record shows the
    // captured request and response; then the session is stopped.
    // The record names its server (a link by the server's name, its id only while loading).
    await page.getByRole('link', { name: 'support', exact: true }).first().click();
    await page.getByRole('heading', { level: 2, name: 'Debug sessions' }).waitFor();
    await page.getByText('No debug session yet.').waitFor();
    await audit(page, 'server (no debug session)');
    await page.getByLabel('Duration (minutes, 1–240)').fill('5');
    await page.getByRole('button', { name: 'Start a debug session' }).click();
    await page.getByRole('status').filter({ hasText: 'A debug session is open until' }).waitFor();
    await page.getByText('No call yet: call a tool of this server.').waitFor();
    await audit(page, 'server (debug session open)');
    await page.getByLabel('Tool', { exact: true }).selectOption('get_ticket');
    await page.getByLabel(/^ticket_id/).fill('TCK-1');
    await page.getByRole('button', { name: 'Call tool' }).click();
    const tail = page.getByRole('table', { name: 'Live tail of the server’s calls' });
    const tailRow = tail.getByRole('row').filter({ hasText: 'get_ticket' });
    await tailRow.waitFor();
    expect(await tail.getByRole('row').count()).toBe(2); // the header and the call made in the session
    await audit(page, 'server (live tail)');
    await tailRow.getByRole('link').click();
    await page.getByRole('heading', { level: 2, name: 'Debug captures' }).waitFor();
    expect(await page.getByTestId('capture-url').innerText()).toBe(`${upstream.url}/api/v1/tickets/TCK-1`);
    expect(await page.getByTestId('capture-status').innerText()).toBe('HTTP 200');
    expect(await page.getByLabel('Response body of The HTTP exchange').innerText()).toContain('Login page returns 500');
    const headerRows = await page.getByRole('table', { name: 'Request headers of The HTTP exchange' }).innerText();
    expect(headerRows).toContain('[redacted]');
    expect(await page.content()).not.toContain('ticket-key');
    await audit(page, 'record (debug capture)');
    await page.screenshot({ path: join(images, 'dashboard-debug-capture.png'), fullPage: true });
    await page.goBack();
    await page.getByRole('button', { name: 'Stop the debug session' }).click();
    await page.getByRole('status').filter({ hasText: 'No debug session is open.' }).waitFor();
    await expect(page.getByRole('cell', { name: 'ended', exact: true }).count()).resolves.toBe(1);
    await audit(page, 'server (debug session stopped)');

    // An API key: shown once, in a field to copy it from; afterwards only its prefix. Then revoked.
    await openFromNav(page, 'API keys', 'API keys');
    await page
      .getByRole('cell', { name: /^bootstrap|this session’s key/ })
      .first()
      .waitFor();
    await audit(page, 'api keys');
    await page.getByLabel('Name', { exact: true }).fill('ci-key');
    await page.getByRole('checkbox', { name: 'support' }).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    const newKey = page.getByLabel('The key ci-key');
    await newKey.waitFor();
    const key = await newKey.inputValue();
    expect(key.length).toBeGreaterThan(20);
    await page.getByText('it is shown only this once').waitFor();
    const keyRow = page.getByRole('row').filter({ hasText: 'ci-key' });
    await keyRow.waitFor();
    expect(await keyRow.innerText()).toContain(key.slice(0, 10));
    expect(await keyRow.innerText()).toContain('support');
    await audit(page, 'api keys (created)');
    await openFromNav(page, 'Secrets', 'Secrets');
    await openFromNav(page, 'API keys', 'API keys');
    await keyRow.waitFor();
    expect(await keyRow.innerText()).toContain(key.slice(0, 10));
    expect(await page.content()).not.toContain(key);
    await expect(page.getByLabel('The key ci-key').count()).resolves.toBe(0);
    await keyRow.getByRole('button', { name: 'Revoke ci-key' }).click();
    await page.getByRole('group', { name: /^Confirm: Revoke ci-key/ }).waitFor();
    await audit(page, 'api keys (confirm revoke)');
    await page
      .getByRole('group', { name: /^Confirm: Revoke ci-key/ })
      .getByRole('button', { name: 'Revoke ci-key' })
      .click();
    await waitFor('the key revoked', async () => (await keyRow.getByRole('cell').nth(5).innerText()) !== 'no');
    await expect(keyRow.getByRole('button', { name: 'Revoke ci-key' }).count()).resolves.toBe(0);
    const revoked = await unwrap(api.GET('/api_keys'));
    expect(revoked.data.find((k) => k.name === 'ci-key')?.revokedAt).not.toBeNull();

    // A workspace secret: set, rotated, deleted after a confirmation; its values appear nowhere in the page.
    await openFromNav(page, 'Secrets', 'Secrets');
    await page.getByLabel('Show the secrets of').selectOption({ label: 'The workspace' });
    await page.getByText('No secret yet.').waitFor();
    const secretValue = 'sv-4f1d9c2e-never-shown';
    await page.getByLabel('Name', { exact: true }).fill('SHARED_TOKEN');
    await valueField.fill(secretValue);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('status').filter({ hasText: 'Created SHARED_TOKEN' }).waitFor();
    const secretRow = page.getByRole('row').filter({ hasText: 'SHARED_TOKEN' });
    await secretRow.waitFor();
    await secretRow.getByRole('button', { name: 'Rotate SHARED_TOKEN' }).click();
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('SHARED_TOKEN');
    await valueField.fill(`${secretValue}-2`);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('status').filter({ hasText: 'Rotated SHARED_TOKEN' }).waitFor();
    await waitFor('the previous version listed', async () => (await secretRow.innerText()).includes('previous'));
    expect(await valueField.inputValue()).toBe('');
    expect(await page.content()).not.toContain(secretValue);
    await audit(page, 'secrets (workspace, rotated)');
    await secretRow.getByRole('button', { name: 'Delete SHARED_TOKEN' }).click();
    const confirmDelete = page.getByRole('group', { name: /^Confirm: Delete SHARED_TOKEN/ });
    await confirmDelete.waitFor();
    await audit(page, 'secrets (confirm delete)');
    await confirmDelete.getByRole('button', { name: 'Delete SHARED_TOKEN' }).click();
    await page.getByRole('status').filter({ hasText: 'Deleted SHARED_TOKEN' }).waitFor();
    await page.getByText('No secret yet.').waitFor();
    expect(await page.content()).not.toContain(secretValue);

    // External users and access policies: created, listed, deleted after a confirmation.
    await openFromNav(page, 'External users', 'External users');
    await page.getByText('No external user yet.').waitFor();
    await audit(page, 'external users (empty)');
    await page.getByLabel('Name', { exact: true }).fill('alice');
    await page.getByLabel(/^Attributes/).fill('team=support');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: 'Created alice' }).waitFor();
    const userRow = page.getByRole('row').filter({ hasText: 'team=support' });
    await userRow.waitFor();
    await audit(page, 'external users (listed)');
    await openFromNav(page, 'Access policies', 'Access policies');
    await page.getByText('No access policy').waitFor();
    await audit(page, 'access policies (empty)');
    await page.getByLabel('Name', { exact: true }).fill('alice-support');
    await page.getByLabel('Kind of principal 1').selectOption({ label: 'External user' });
    await page.getByLabel('Value of principal 1').fill('alice');
    await page.getByRole('checkbox', { name: 'Every server (*)' }).uncheck();
    await page.getByRole('checkbox', { name: 'support' }).check();
    await page.getByLabel(/^Which tools/).fill('get_ticket, open_tickets');
    // A false condition held for approval by someone else: here the person alice.
    await page.getByLabel(/^Condition/).fill('tool.name == "get_ticket"');
    await page.getByLabel('When the condition is false').selectOption('require_approval');
    await page.getByLabel(/^People/).fill('alice');
    await page.getByRole('button', { name: 'Create policy' }).click();
    await page.getByRole('status').filter({ hasText: 'Created alice-support' }).waitFor();
    const policyRow = page.getByRole('row').filter({ hasText: 'alice-support' });
    await policyRow.waitFor();
    expect(await policyRow.innerText()).toContain('External user alice');
    expect(await policyRow.innerText()).toContain('get_ticket, open_tickets');
    expect(await policyRow.innerText()).toContain('when false: requires approval by person alice (1 needed)');
    const [created] = (await unwrap(api.GET('/access_policies'))).data;
    expect(created).toMatchObject({
      condition: 'tool.name == "get_ticket"',
      onFalse: 'require_approval',
      approval: { approvers: { people: ['alice'] }, approvals: 1 },
    });
    await audit(page, 'access policies (listed)');
    await policyRow.getByRole('button', { name: 'Delete alice-support' }).click();
    await page
      .getByRole('group', { name: /^Confirm: Delete alice-support/ })
      .getByRole('button', { name: 'Delete alice-support' })
      .click();
    await page.getByText('No access policy').waitFor();
    await openFromNav(page, 'External users', 'External users');
    await userRow.getByRole('button', { name: 'Delete alice' }).click();
    await page
      .getByRole('group', { name: /^Confirm: Delete alice/ })
      .getByRole('button', { name: 'Delete alice' })
      .click();
    await page.getByText('No external user yet.').waitFor();

    // Signing out forgets the key.
    await signOut(page);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(pageProblems).toEqual([]);
  }, 180_000);
});
