// The dashboard changes and deletes what it created, in a real browser against the real stack (Debian's Chromium
// driven by playwright-core, axe-core on every page state), each effect checked through the API or over MCP with the
// SDK client: a server's settings and tools (a tool taken out of the picker is gone from `tools/list`), its deletion
// (its URL answers 404), SMART creation, a connector instance's rename, credential rotation (what the upstream
// receives) and deletion, a connector's new version (its effect on the servers' tools shown before saving) and
// deletion, a workflow deployment's tools removed and an earlier deployment rolled back to. A missing Chromium fails
// the file (no skip).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { ApiError, createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, ticketSystemDescriptorYaml, type TicketSystem } from '@toolplane/examples';
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
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { PROPAGATION_DEADLINE_MS, waitFor } from '../../helpers/wait.ts';

let stack: Stack;
let api: ManagementClient;
/** The seed-001 ticket system: it answers the key `ticket-key` only, and records what it receives. */
let upstream: TicketSystem;
let connectorId: string;
/** The instance `tickets`, created with a wrong key (`old-key`): its credential is rotated in the browser. */
let instanceId: string;

/** Chromium, its dashboard page, and what the page reported as broken (uncaught errors, CSP refusals). */
let browser: Browser, page: Page, pageProblems: string[];

/** The names `tools/list` gives over MCP (the SDK client), with `key` or, for a public server, none. */
async function mcpTools(url: string, key?: string): Promise<string[]> {
  const client = new Client({ name: 'dashboard-edit', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: key ? { 'x-api-key': key } : {} },
    }),
  );
  try {
    return (await client.listTools()).tools.map((t) => t.name).sort();
  } finally {
    await client.close();
  }
}

/** Waits until `tools/list` of `url` gives `expected` (a change reaches the edge over pub/sub). */
async function expectTools(url: string, expected: string[], key: string | undefined = stack.bootstrapKey) {
  await waitFor(
    `tools/list of ${url} to be ${expected.join(', ')}`,
    async () => JSON.stringify(await mcpTools(url, key)) === JSON.stringify([...expected].sort()),
    PROPAGATION_DEADLINE_MS,
  );
}

/** The error of a call expected to fail. */
async function failure(call: Promise<unknown>): Promise<ApiError> {
  return call.then(
    () => {
      throw new Error('the call succeeded');
    },
    (e: unknown) => e as ApiError,
  );
}

const serverIdOf = (url: string) => /\/servers\/([^/?#]+)/.exec(url)![1]!;

/**
 * Version 1.1.0 of the ticket-system descriptor: `get_me` added (GET /api/v1/me), `create_ticket` no longer a tool,
 * `get_ticket` described anew, `search_tickets` as it was.
 */
const descriptorV2 = ticketSystemDescriptorYaml
  .replace('version: "1.0.0"', 'version: "1.1.0"')
  .replace(
    '\ncapabilities:',
    [
      '  - operation_id: get_me',
      '    endpoint: "https://tickets.internal.com/api/v1/me"',
      '    method: GET',
      '    summary: "The service account the key belongs to"',
      '    auth_type_ref: api_key',
      '    auth_headers:',
      '      X-API-Key: "{api_key}"',
      '',
      'capabilities:',
    ].join('\n'),
  )
  .replace(
    / {4}- operation_id: create_ticket\n {6}mcp_tool_name: create_ticket\n {6}mcp_tool_description: "[^"]*"/,
    '    - operation_id: get_me\n      mcp_tool_name: get_me\n      mcp_tool_description: "Who the ticket system sees."',
  )
  .replace(/(mcp_tool_name: get_ticket\n {6}mcp_tool_description: )"[^"]*"/, '$1"One ticket, in full."');

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  upstream = await startTicketSystem({ apiKey: 'ticket-key' });
  ({ stack } = await startTestStack('dashboard-edit', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  connectorId = (await unwrap(api.POST('/connectors', yamlBody(ticketSystemDescriptorYaml)))).id;
  instanceId = (
    await unwrap(
      api.POST('/connector_instances', {
        body: {
          connector_id: connectorId,
          name: 'tickets',
          base_url: upstream.url,
          credentials: { api_key: 'old-key' },
          createServer: false,
        },
      }),
    )
  ).id;
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
  await signIn(page, stack.bootstrapKey);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await upstream?.close();
});

describe('changing and deleting in the dashboard', () => {
  it('edits a server’s name, description, access and tools, then deletes it', async () => {
    const created = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'support',
          mode: 'NORMAL',
          isPublic: false,
          perRequestAuth: false,
          connectorInstanceId: instanceId,
          selectedTools: ['get_ticket', 'search_tickets'],
        },
      }),
    );
    const limited = await unwrap(
      api.POST('/api_keys', { body: { name: 'support-agent', scopes: ['runtime'], serverIds: [created.id] } }),
    );
    await expectTools(created.url, ['get_ticket', 'search_tickets']);

    await page.goto('/servers'); // a fresh list (the server was created through the API)
    await page.getByRole('link', { name: 'support', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'support' }).waitFor();
    await page.getByRole('link', { name: 'Edit or delete' }).click();
    await page.getByRole('heading', { level: 1, name: 'Edit support' }).waitFor();
    // The picker of the creation form, with the server's selection checked.
    await page.getByLabel('Search tools').waitFor();
    expect(await page.locator('ul.tools > li').count()).toBe(3);
    expect(await page.getByRole('checkbox', { name: /get_ticket/ }).isChecked()).toBe(true);
    expect(await page.getByRole('checkbox', { name: /search_tickets/ }).isChecked()).toBe(true);
    expect(await page.getByRole('checkbox', { name: /create_ticket/ }).isChecked()).toBe(false);
    await page.getByText('2 selected.').waitFor();
    await audit(page, 'server edit');

    await page.getByLabel('Name', { exact: true }).fill('helpdesk');
    await page.getByLabel('Description', { exact: true }).fill('Help desk tools');
    await page.getByLabel(/^Public/).check();
    await page.getByRole('checkbox', { name: /search_tickets/ }).uncheck();
    await page.getByRole('checkbox', { name: /create_ticket/ }).check();
    await page.getByText('2 selected.').waitFor();
    // "Ask a person first": suggested for create_ticket (a POST without idempotency key), not for the reads.
    const askFirst = page.locator('#tool-create_ticket-confirm');
    expect(await page.locator('label[for="tool-create_ticket-confirm"]').innerText()).toContain('suggested');
    expect(await page.locator('label[for="tool-get_ticket-confirm"]').innerText()).not.toContain('suggested');
    expect(await page.locator('#tool-search_tickets-confirm').isDisabled()).toBe(true); // not exposed
    await askFirst.check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { level: 1, name: 'helpdesk' }).waitFor();
    await page.getByRole('heading', { name: 'Tools (2)' }).waitFor();
    await page.getByText('Help desk tools').waitFor();
    await audit(page, 'server (edited)');

    const changed = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: created.id } } }));
    expect(changed).toMatchObject({ name: 'helpdesk', description: 'Help desk tools', isPublic: true, mode: 'NORMAL' });
    expect([...changed.selectedTools].sort()).toEqual(['create_ticket', 'get_ticket']);
    expect(changed.confirmTools).toEqual(['create_ticket']);
    // The tool taken out of the picker is gone from tools/list; the server is public now (no key needed).
    await expectTools(created.url, ['create_ticket', 'get_ticket'], undefined);

    // Deleting it says what stops working: its URL and the key limited to it.
    await page.getByRole('link', { name: 'Edit or delete' }).click();
    await page.getByRole('heading', { level: 1, name: 'Edit helpdesk' }).waitFor();
    const consequences = page.getByRole('list', { name: 'What stops working' });
    await consequences.getByText('support-agent').waitFor();
    const said = await consequences.innerText();
    expect(said).toContain(created.url);
    expect(said).toContain('answers 404');
    expect(said).toMatch(/support-agent.*reaches no server at all/);
    expect(said).toContain(limited.prefix);
    await page.getByRole('button', { name: 'Delete server helpdesk' }).click();
    await page.getByRole('group', { name: /Confirm: Delete helpdesk/ }).waitFor();
    await audit(page, 'server deletion (confirming)');
    await page.getByRole('button', { name: 'Delete helpdesk', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'MCP servers' }).waitFor();
    await page.getByRole('link', { name: 'helpdesk', exact: true }).waitFor({ state: 'detached' });

    expect((await failure(unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: created.id } } })))).status).toBe(
      404,
    );
    await waitFor(
      'the deleted server’s URL to answer 404',
      async () =>
        (
          await postMcp(
            created.url,
            { jsonrpc: '2.0', id: 1, method: 'tools/list' },
            { 'x-api-key': limited.key, 'mcp-protocol-version': '2025-11-25' },
          )
        ).status === 404,
      PROPAGATION_DEADLINE_MS,
    );
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('creates a SMART server in the form, then makes it a NORMAL one with a picked tool', async () => {
    await openFromNav(page, 'MCP servers', 'MCP servers');
    await page.getByRole('link', { name: 'Create a server' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create an MCP server' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('everything');
    await page.getByLabel('Description', { exact: true }).fill('Every tool of the workspace, by search');
    await page.getByLabel(/^SMART/).check();
    // SMART servers search the whole workspace: no instance, no picker.
    await page.getByLabel('Connector instance', { exact: true }).waitFor({ state: 'detached' });
    await audit(page, 'server creation (SMART)');
    await page.getByRole('button', { name: 'Create server' }).click();
    await page.getByRole('heading', { level: 1, name: 'everything' }).waitFor();
    const facts = page.locator('dl.facts');
    await facts.getByText('SMART', { exact: true }).waitFor();
    await page.locator('ul.tools').getByText('search_tools', { exact: true }).waitFor();
    await audit(page, 'server (SMART)');
    const id = serverIdOf(page.url());
    const smart = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id } } }));
    expect(smart).toMatchObject({ mode: 'SMART', description: 'Every tool of the workspace, by search' });
    expect(await mcpTools(smart.url, stack.bootstrapKey)).toEqual(
      ['connect', 'describe_tool', 'execute_tool', 'list_connections', 'run_code', 'search_tools'].sort(),
    );
    // Its catalog is the workspace's tools, found by search.
    const client = new Client({ name: 'dashboard-edit', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(smart.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const found = await client.callTool({ name: 'search_tools', arguments: { query: 'ticket details', limit: 3 } });
    await client.close();
    const results = (found.structuredContent as { results: { name: string }[] }).results.map((r) => r.name);
    expect(results).toContain('get_ticket');

    // The mode changes in the edit form: NORMAL on the instance, one tool picked.
    await page.getByRole('link', { name: 'Edit or delete' }).click();
    await page.getByRole('heading', { level: 1, name: 'Edit everything' }).waitFor();
    await page.getByLabel(/^NORMAL/).check();
    await page.getByLabel('Connector instance', { exact: true }).selectOption({ label: 'tickets' });
    await page.getByLabel('Search tools').waitFor();
    await page.getByRole('checkbox', { name: /get_ticket/ }).check();
    await page.getByText('1 selected.').waitFor();
    await audit(page, 'server edit (SMART to NORMAL)');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { level: 1, name: 'everything' }).waitFor();
    await facts.getByText('NORMAL', { exact: true }).waitFor();
    await page.getByRole('heading', { name: 'Tools (1)' }).waitFor();
    expect(await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id } } }))).toMatchObject({
      mode: 'NORMAL',
      connectorInstanceId: instanceId,
      selectedTools: ['get_ticket'],
    });
    await expectTools(smart.url, ['get_ticket']);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('renames a connector instance and rotates its credential (what the upstream receives), then deletes another', async () => {
    const desk = await unwrap(
      api.POST('/mcp_manager', {
        body: { name: 'desk', mode: 'NORMAL', isPublic: false, perRequestAuth: false, connectorInstanceId: instanceId },
      }),
    );
    const callTicket = async () => {
      const client = new Client({ name: 'dashboard-edit', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(desk.url), {
          requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
        }),
      );
      try {
        return await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'TCK-1' } });
      } finally {
        await client.close();
      }
    };
    const lastKey = (path: string) => upstream.requests.filter((r) => r.path === path).at(-1)?.headers['x-api-key'];
    // The stored key is wrong: the upstream gets it and refuses.
    expect((await callTicket()).isError).toBe(true);
    expect(lastKey('/api/v1/tickets/TCK-1')).toBe('old-key');

    await page.goto('/instances');
    await page.getByRole('heading', { level: 1, name: 'Connector instances' }).waitFor();
    await page.getByRole('button', { name: 'Test tickets', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Failed: HTTP 401' }).waitFor();
    await page.getByRole('button', { name: 'Change tickets', exact: true }).click();
    const change = page.getByRole('region', { name: 'Change tickets' });
    await change.waitFor();
    const key = change.getByLabel(/API Key/);
    expect(await key.getAttribute('type')).toBe('password');
    expect(await key.inputValue()).toBe(''); // write-only: nothing of the stored value comes back
    await change.getByText('(set: leave empty to keep it)').waitFor();
    await audit(page, 'connector instance change');
    await change.getByLabel('Name', { exact: true }).fill('tickets-eu');
    await key.fill('ticket-key');
    await change.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved tickets-eu: api_key replaced.' }).waitFor();
    await page.getByRole('cell', { name: 'tickets-eu', exact: true }).waitFor();
    expect(await key.inputValue()).toBe('');
    expect(await page.content()).not.toContain('ticket-key');
    await audit(page, 'connector instance changed');

    expect(await unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: instanceId } } }))).toMatchObject({
      name: 'tickets-eu',
      credential_keys: ['api_key'],
    });
    // "Test" stays, and now passes with the rotated key.
    await page.getByRole('button', { name: 'Test tickets-eu', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Passed: HTTP 200' }).waitFor();
    expect(lastKey('/api/v1/me')).toBe('ticket-key');
    // A tool call sends the rotated key (workers drop their cached value on the change's announcement).
    const result = await waitFor(
      'a call with the rotated key',
      async () => {
        const r = await callTicket();
        return r.isError ? undefined : r;
      },
      PROPAGATION_DEADLINE_MS,
    );
    expect(JSON.stringify(result.content)).toContain('TCK-1');
    expect(lastKey('/api/v1/tickets/TCK-1')).toBe('ticket-key');

    // Another instance, with a server built on it: deleting it says what it takes away.
    const staging = await unwrap(
      api.POST('/connector_instances', {
        body: {
          connector_id: connectorId,
          name: 'tickets-staging',
          base_url: upstream.url,
          credentials: { api_key: 'ticket-key' },
          createServer: false,
        },
      }),
    );
    const onStaging = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'staging',
          mode: 'NORMAL',
          isPublic: false,
          perRequestAuth: false,
          connectorInstanceId: staging.id,
        },
      }),
    );
    await expectTools(onStaging.url, ['create_ticket', 'get_ticket', 'search_tickets']);
    await page.goto('/instances');
    await page.getByRole('button', { name: 'Change tickets-staging', exact: true }).click();
    const removal = page.getByRole('list', { name: 'What deleting tickets-staging takes away' });
    await removal.getByRole('link', { name: 'staging', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Delete instance tickets-staging' }).click();
    await audit(page, 'connector instance deletion (confirming)');
    await page.getByRole('button', { name: 'Delete tickets-staging', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Deleted tickets-staging.' }).waitFor();
    await page.getByRole('cell', { name: 'tickets-staging', exact: true }).waitFor({ state: 'detached' });
    expect(
      (await failure(unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: staging.id } } })))).status,
    ).toBe(404);
    const left = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: onStaging.id } } }));
    expect(left.tools).toEqual([]);
    expect(left.warnings?.join(' ')).toContain('tickets-staging');
    await expectTools(onStaging.url, []);
    expect(pageProblems).toEqual([]);
  }, 120_000);
  it('takes a workflow deployment’s tools off its server and rolls back to an earlier deployment', async () => {
    const flower = (flow: string) =>
      [
        'flower: "0.1"',
        `id: ${flow}-doc`,
        'flows:',
        `  - id: ${flow}`,
        `    description: The ${flow} workflow`,
        '    steps:',
        '      - id: me',
        '        request:',
        '          method: GET',
        `          url: ${upstream.url}/api/v1/me`,
        '',
      ].join('\n');
    const flows = await unwrap(
      api.POST('/mcp_manager', { body: { name: 'flows', mode: 'NORMAL', isPublic: false, perRequestAuth: false } }),
    );
    for (const flow of ['first_flow', 'second_flow'])
      await unwrap(
        api.POST('/mcp_servers/{id}/deploy', {
          params: { path: { id: flows.id } },
          body: { definition: flower(flow) },
        }),
      );
    await expectTools(flows.url, ['second_flow']);
    const states = async () =>
      (await unwrap(api.GET('/mcp_servers/{id}/deployments', { params: { path: { id: flows.id } } }))).data.map((d) => [
        d.state,
        d.tools,
      ]);

    await page.goto(`/workflows?server=${flows.id}`);
    const history = page.getByRole('table', { name: 'Deployments, newest first' });
    await history.getByRole('rowheader', { name: '#2' }).waitFor();
    await audit(page, 'workflow deployments');

    // Back to the first deployment: a new deployment from what it stored.
    await page.getByRole('button', { name: 'Roll back to deployment #1' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'deployment #1 deployed again: the server now has the tools first_flow.' })
      .waitFor();
    await history.getByRole('rowheader', { name: '#3' }).waitFor();
    expect(await states()).toEqual([
      ['active', ['first_flow']],
      ['superseded', ['second_flow']],
      ['superseded', ['first_flow']],
    ]);
    await expectTools(flows.url, ['first_flow']);

    // The active deployment's tools off the server; it stays in the history.
    await page.getByRole('button', { name: 'Remove its tools of deployment #3' }).click();
    await page.getByRole('group', { name: 'Confirm: Take first_flow off the server?' }).waitFor();
    await audit(page, 'workflow tools removal (confirming)');
    await page.getByRole('button', { name: 'Remove the tools' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'The tools of deployment #3 were taken off the server.' })
      .waitFor();
    await history.locator('tr[data-state="withdrawn"]').getByRole('rowheader', { name: '#3' }).waitFor();
    expect((await states())[0]).toEqual(['withdrawn', ['first_flow']]);
    await expectTools(flows.url, []);
    await audit(page, 'workflow deployments (withdrawn)');

    // And back again.
    await page.getByRole('button', { name: 'Deploy again deployment #3' }).click();
    await history.getByRole('rowheader', { name: '#4' }).waitFor();
    await expectTools(flows.url, ['first_flow']);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('uploads a new connector version, showing what it does to the servers’ tools first, then deletes the connector', async () => {
    const catalogued = await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'catalogued',
          mode: 'NORMAL',
          isPublic: false,
          perRequestAuth: false,
          connectorInstanceId: instanceId,
        },
      }),
    );
    await expectTools(catalogued.url, ['create_ticket', 'get_ticket', 'search_tickets']);
    await page.goto('/connectors');
    await page.getByRole('link', { name: 'Ticket System', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Ticket System 1.0.0' }).waitFor();
    await audit(page, 'connector');

    // An invalid version: its problems at their lines, as at creation.
    const broken = descriptorV2.replace(
      '    - operation_id: get_ticket\n      mcp_tool_name',
      '    - operation_id: no_such_op\n      mcp_tool_name',
    );
    const brokenLine = broken.split('\n').findIndex((l) => l.includes('operation_id: no_such_op')) + 1;
    await page.getByLabel('Or paste it').fill(broken);
    await page.getByRole('button', { name: 'Preview the change' }).click();
    const issues = page.getByRole('list', { name: 'Problems of the document' });
    await issues.waitFor();
    expect(await issues.getByRole('listitem').allInnerTexts()).toEqual(
      expect.arrayContaining([expect.stringMatching(new RegExp(`^${brokenLine}:7: .*operation_id\\)$`))]),
    );
    expect(await page.locator('.docview li.marked').evaluateAll((els) => els.map((e) => e.dataset.line))).toEqual([
      String(brokenLine),
    ]);
    await audit(page, 'connector new version (invalid)');

    // The valid one: what it would do, per server, before anything is saved.
    await page.getByLabel(/file/).setInputFiles({
      name: 'descriptor.yaml',
      mimeType: 'application/yaml',
      buffer: Buffer.from(descriptorV2),
    });
    await waitFor(
      'the file in the text area',
      async () => !(await page.getByLabel('Or paste it').inputValue()).includes('no_such_op'),
    );
    await page.getByRole('button', { name: 'Preview the change' }).click();
    await page.getByRole('status').filter({ hasText: 'Valid: Ticket System 1.0.0 → 1.1.0' }).waitFor();
    const effects = page.getByRole('table', { name: 'What the new version does to the servers’ tools' });
    const row = effects.locator('tr[data-server="catalogued"]');
    expect(await row.getByRole('cell').allInnerTexts()).toEqual(['get_me', 'create_ticket', 'get_ticket: description']);
    await audit(page, 'connector new version (preview)');
    // A dry run: nothing changed yet.
    expect((await unwrap(api.GET('/connectors/{id}', { params: { path: { id: connectorId } } }))).version).toBe(
      '1.0.0',
    );
    expect(await mcpTools(catalogued.url, stack.bootstrapKey)).toEqual([
      'create_ticket',
      'get_ticket',
      'search_tickets',
    ]);

    await page.getByRole('button', { name: 'Save version 1.1.0' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Saved Ticket System 1\.1\.0: \d+ server\(s\) got a new/ })
      .waitFor();
    await page.getByRole('heading', { level: 1, name: 'Ticket System 1.1.0' }).waitFor();
    expect((await unwrap(api.GET('/connectors/{id}', { params: { path: { id: connectorId } } }))).tools).toEqual([
      'search_tickets',
      'get_ticket',
      'get_me',
    ]);
    await expectTools(catalogued.url, ['get_me', 'get_ticket', 'search_tickets']);
    const client = new Client({ name: 'dashboard-edit', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(catalogued.url), {
        requestInit: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    const described = (await client.listTools()).tools.find((t) => t.name === 'get_ticket');
    await client.close();
    expect(described?.description).toBe('One ticket, in full.');

    // Deleting it takes its instances along (force), which it says first.
    const consequences = page.getByRole('list', { name: 'What deleting the connector takes away' });
    const said = await consequences.innerText();
    expect(said).toContain('force=true');
    expect(said).toContain('tickets-eu');
    expect(said).toContain('catalogued');
    await page.getByRole('button', { name: 'Delete connector Ticket System' }).click();
    await page.getByRole('group', { name: /Confirm: Delete Ticket System and its 1 instance/ }).waitFor();
    await audit(page, 'connector deletion (confirming)');
    await page.getByRole('button', { name: 'Delete Ticket System', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Connectors' }).waitFor();
    await page.getByText('No connector yet').waitFor();
    expect((await failure(unwrap(api.GET('/connectors/{id}', { params: { path: { id: connectorId } } })))).status).toBe(
      404,
    );
    expect(
      (await failure(unwrap(api.GET('/connector_instances/{id}', { params: { path: { id: instanceId } } })))).status,
    ).toBe(404);
    await expectTools(catalogued.url, []);
    expect(pageProblems).toEqual([]);
  }, 120_000);
});
