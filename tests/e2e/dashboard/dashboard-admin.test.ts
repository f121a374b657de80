// The dashboard's external user page and workspaces page in a real browser against the real stack (Debian's
// Chromium driven by playwright-core, every page state checked by axe-core), as tests/e2e/dashboard/dashboard.test.ts
// does. A missing Chromium fails the file (no skip).
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { subscriptionsKey } from '@toolplane/contracts';
import { freePort } from '@toolplane/embedded';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import type { Browser, Page } from 'playwright-core';
import {
  audit,
  buildDashboard,
  dashboardEnv,
  launchChromium,
  newDashboardPage,
  openFromNav,
  signIn,
  signOut,
} from '../../helpers/browser.ts';
import { stackRedis, startTestStack } from '../../helpers/stack.ts';
import {
  guardrailFile,
  namesOf,
  policyFile,
  quotaFile,
  sessionFile,
} from '../../../packages/dashboard/src/rule-files.ts';
import { waitFor } from '../../helpers/wait.ts';

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let example: RegisteredExample;
/** The control plane itself (SCIM is outside the API document the contract proxy checks). */
let direct: string;

/** Chromium, its dashboard page, and what the page reported as broken (uncaught errors, CSP refusals). */
let browser: Browser, page: Page, pageProblems: string[];

/** The dashboard build this file's control plane serves. */
let build: string;

beforeAll(async () => {
  build = buildDashboard();
  browser = await launchChromium();
  upstream = await startTicketSystem({ apiKey: 'ticket-key' });
  ({
    stack,
    api,
    directControlPlaneUrl: direct,
  } = await startTestStack('dashboard-admin', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  example = await registerTicketExample(api, upstream.url, 'ticket-key', 'support');
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await upstream?.close();
});

/** A new runtime key granted every tool of the example server by a policy of its own, and an MCP client with it. */
async function agentOnExample(name: string, policy: string) {
  const agent = await unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));
  const principals = [{ type: 'api_key' as const, value: agent.id }];
  await unwrap(
    api.POST('/access_policies', { body: { name: policy, principals, servers: [example.serverId], tools: ['*'] } }),
  );
  const client = new Client({ name: `dashboard-${name}`, version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${example.serverId}`), {
      requestInit: { headers: { 'x-api-key': agent.key } },
    }),
  );
  return { agent, client };
}

describe('the dashboard for admins', () => {
  it('shows an external user: attributes, a connection, MCP connections and secrets', async () => {
    await signIn(page, stack.bootstrapKey);
    // The navigation in groups, every link reachable by the keyboard.
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const group of ['Build', 'Run', 'Admin']) await nav.getByRole('list', { name: group }).waitFor();
    await expect(nav.getByRole('link').count()).resolves.toBe(25);
    await nav.getByRole('link', { name: 'MCP servers', exact: true }).focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Connectors');
    await page
      .getByRole('banner')
      .getByRole('link', { name: /^Workspace default/ })
      .waitFor();
    await audit(page, 'overview (grouped navigation)');

    await openFromNav(page, 'External users', 'External users');
    await page.getByText('No external user yet.').waitFor();
    await page.getByLabel('Name', { exact: true }).fill('alice');
    await page.getByLabel(/^Attributes/).fill('team=support');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: 'Created alice' }).waitFor();
    await page.getByRole('link', { name: 'alice', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'External user alice' }).waitFor();
    await page.getByText('No connection yet.').waitFor();
    await page.getByText('No secret yet.').waitFor();
    await page.getByText('None of your MCP servers uses an external MCP server.').waitFor();
    expect(await nav.getByRole('link', { name: 'External users' }).getAttribute('aria-current')).toBe('page');
    await audit(page, 'external user (empty)');

    // Attributes: edited, saved, read back.
    const attributes = page.getByRole('textbox', { name: /^Attributes/ });
    expect(await attributes.inputValue()).toBe('team=support');
    await attributes.fill('team=billing\nregion=eu');
    await page.getByRole('button', { name: 'Save attributes' }).click();
    await page.getByRole('status').filter({ hasText: 'Attributes saved.' }).waitFor();
    const users = await unwrap(api.GET('/external_users'));
    expect(users.data.find((u) => u.name === 'alice')?.attributes).toEqual({ team: 'billing', region: 'eu' });
    await attributes.fill('no equals sign');
    await page.getByRole('button', { name: 'Save attributes' }).click();
    await page.getByRole('alert').filter({ hasText: 'line 1: write name=value' }).waitFor();
    await audit(page, 'external user (attributes invalid)');
    await attributes.fill('team=billing\nregion=eu');

    // A connection to the seed-001 instance: the credential as a password input, write-only.
    const credential = 'alice-ticket-key-7c1e-never-shown';
    await page.getByLabel('Connector instance').selectOption({ label: 'support-instance' });
    const apiKeyField = page.getByLabel(/API Key/);
    expect(await apiKeyField.getAttribute('type')).toBe('password');
    await apiKeyField.fill(credential);
    await page.getByRole('button', { name: 'Save connection' }).click();
    await page.getByRole('status').filter({ hasText: 'Connection to support-instance saved.' }).waitFor();
    const connectionRow = page.getByRole('row').filter({ hasText: 'support-instance' });
    await connectionRow.waitFor();
    expect(await connectionRow.innerText()).toContain('api_key');
    expect(await apiKeyField.inputValue()).toBe('');
    expect(await page.content()).not.toContain(credential);
    const connections = await unwrap(
      api.GET('/external_users/{name}/connections', { params: { path: { name: 'alice' } } }),
    );
    expect(connections.data.map((c) => c.connector_instance_id)).toEqual([example.instanceId]);
    await audit(page, 'external user (connection set)');

    // A secret: set, listed by name only, deleted after a confirmation; its value appears nowhere.
    const secretValue = 'us-93b1f0d4-never-shown';
    await page.getByLabel('Secret name').fill('CRM_TOKEN');
    const secretField = page.getByLabel(/^Secret value/);
    expect(await secretField.getAttribute('type')).toBe('password');
    await secretField.fill(secretValue);
    await page.getByRole('button', { name: 'Set secret' }).click();
    await page.getByRole('status').filter({ hasText: 'Secret CRM_TOKEN set.' }).waitFor();
    const secretRow = page.getByRole('row').filter({ hasText: 'CRM_TOKEN' });
    await secretRow.waitFor();
    expect(await secretField.inputValue()).toBe('');
    expect(await page.content()).not.toContain(secretValue);
    await audit(page, 'external user (secret set)');
    await secretRow.getByRole('button', { name: 'Rotate CRM_TOKEN' }).click();
    expect(await page.getByLabel('Secret name').inputValue()).toBe('CRM_TOKEN');
    await waitFor('the value field focused', () =>
      page.evaluate(() => document.activeElement?.id === 'user-secret-value'),
    );
    await secretField.fill(`${secretValue}-2`);
    await page.getByRole('button', { name: 'Set secret' }).click();
    await page.getByRole('status').filter({ hasText: 'Secret CRM_TOKEN set.' }).waitFor();
    await waitFor('the value field emptied', async () => (await secretField.inputValue()) === '');
    expect(await page.content()).not.toContain(secretValue);
    await secretRow.getByRole('button', { name: 'Delete CRM_TOKEN' }).click();
    const confirmDelete = page.getByRole('group', { name: /^Confirm: Delete alice’s secret CRM_TOKEN/ });
    await confirmDelete.waitFor();
    await audit(page, 'external user (confirm secret delete)');
    await confirmDelete.getByRole('button', { name: 'Delete CRM_TOKEN' }).click();
    await page.getByRole('status').filter({ hasText: 'Secret CRM_TOKEN deleted.' }).waitFor();
    await page.getByText('No secret yet.').waitFor();
    expect(await page.content()).not.toContain(secretValue);
    await expect(
      unwrap(api.GET('/external_users/{name}/secrets', { params: { path: { name: 'alice' } } })),
    ).resolves.toEqual({
      data: [],
    });

    // The connection removed after a confirmation.
    await connectionRow.getByRole('button', { name: 'Remove the connection to support-instance' }).click();
    const confirmRemove = page.getByRole('group', { name: /^Confirm: Remove alice’s credentials/ });
    await confirmRemove.waitFor();
    await audit(page, 'external user (confirm connection removal)');
    await confirmRemove.getByRole('button', { name: 'Remove the connection' }).click();
    await page.getByRole('status').filter({ hasText: 'Connection to support-instance removed.' }).waitFor();
    await page.getByText('No connection yet.').waitFor();
    expect(await page.content()).not.toContain(credential);

    // MCP connections: headers for an external MCP server of a server, the configured names offered, values write-only.
    await unwrap(
      api.POST('/mcp_manager', {
        body: {
          name: 'remote',
          mode: 'NORMAL',
          externalMcpConfigs: [
            { name: 'far', url: 'http://127.0.0.1:9/mcp', headers: { authorization: 'Bearer shared' } },
          ],
        },
      }),
    );
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'External user alice' }).waitFor();
    await page.getByLabel('External MCP server').selectOption({ label: 'far (of remote)' });
    expect(await page.getByLabel('Header 1 name').inputValue()).toBe('authorization');
    const headerValue = 'Bearer alice-4e7a-never-shown';
    const headerField = page.getByLabel('Header 1 value');
    expect(await headerField.getAttribute('type')).toBe('password');
    await headerField.fill(headerValue);
    await page.getByRole('button', { name: 'Save headers' }).click();
    await page.getByRole('status').filter({ hasText: 'Headers for far (of remote) saved: authorization.' }).waitFor();
    expect(await headerField.inputValue()).toBe('');
    expect(await page.content()).not.toContain(headerValue);
    await audit(page, 'external user (MCP connection set)');
    await page.getByRole('button', { name: 'Remove headers for far (of remote)' }).click();
    const confirmHeaders = page.getByRole('group', { name: /^Confirm: Remove alice’s headers for far/ });
    await confirmHeaders.waitFor();
    await audit(page, 'external user (confirm MCP connection removal)');
    await confirmHeaders.getByRole('button', { name: 'Remove the headers' }).click();
    await page.getByRole('status').filter({ hasText: 'Headers for far (of remote) removed.' }).waitFor();

    // An unknown user: a page that says so.
    await page.goto(`${stack.controlPlaneUrl}/external-users/nobody`);
    await page.getByRole('heading', { level: 1, name: 'Not found' }).waitFor();
    await page.getByText('No external user named').waitFor();
    await audit(page, 'external user (unknown)');
    expect(pageProblems).toEqual([]);
  }, 180_000);

  it('creates a workspace with an admin key and shows its first key once; a non-admin key gets no form', async () => {
    await page.goto(`${stack.controlPlaneUrl}/servers`);
    await page.getByRole('heading', { level: 1, name: 'MCP servers' }).waitFor();
    await openFromNav(page, 'Workspaces', 'Workspaces');
    await page.getByRole('heading', { level: 2, name: 'This session’s workspace' }).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Workspaces of the organization' }).waitFor();
    await page.getByRole('row').filter({ hasText: '(this session’s)' }).waitFor();
    await audit(page, 'workspaces (admin)');

    await page.getByLabel(/^Name/).fill('Not A Slug');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.getByRole('alert').filter({ hasText: 'Not created' }).waitFor();
    await audit(page, 'workspaces (invalid name)');
    await page.getByLabel(/^Name/).fill('partners');
    await page.getByRole('button', { name: 'Create workspace' }).click();
    const newKey = page.getByLabel('The first API key of partners');
    await newKey.waitFor();
    const key = await newKey.inputValue();
    expect(key.length).toBeGreaterThan(20);
    await page.getByText('it is shown only this once').waitFor();
    await page.getByRole('button', { name: 'Copy the key' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'partners' }).waitFor();
    await audit(page, 'workspaces (created, key shown once)');
    // The key works, in the new workspace.
    const other = await fetch(`${stack.controlPlaneUrl}/api/v1/workspaces/current`, { headers: { 'x-api-key': key } });
    expect(((await other.json()) as { name: string }).name).toBe('partners');
    // Shown once: gone after "I have stored it", and after leaving the page.
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await expect(page.getByLabel('The first API key of partners').count()).resolves.toBe(0);
    await openFromNav(page, 'API keys', 'API keys');
    await openFromNav(page, 'Workspaces', 'Workspaces');
    await page.getByRole('row').filter({ hasText: 'partners' }).waitFor();
    expect(await page.content()).not.toContain(key);

    // A key without the admin scope: its own workspace only, no create form and why.
    const plain = await unwrap(api.POST('/api_keys', { body: { name: 'plain', scopes: ['management', 'runtime'] } }));
    await signOut(page);
    await signIn(page, plain.key);
    await openFromNav(page, 'Workspaces', 'Workspaces');
    await page.getByRole('heading', { level: 2, name: 'Workspaces you can see' }).waitFor();
    await page.getByText('has no admin scope').waitFor();
    await expect(page.getByRole('button', { name: 'Create workspace' }).count()).resolves.toBe(0);
    await expect(page.getByRole('row').filter({ hasText: 'partners' }).count()).resolves.toBe(0);
    await audit(page, 'workspaces (not admin)');
    await signOut(page);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('shows the audit trail: sign-ins and changes with their fields, filtered; a key without the audit scope is told', async () => {
    await signIn(page, stack.bootstrapKey);
    const policy = await unwrap(
      api.POST('/access_policies', {
        body: {
          name: 'audited-before',
          principals: [{ type: 'oauth_subject', value: 'carol' }],
          servers: ['*'],
          tools: ['*'],
        },
      }),
    );
    await unwrap(
      api.PATCH('/access_policies/{id}', { params: { path: { id: policy.id } }, body: { name: 'audited-after' } }),
    );
    await openFromNav(page, 'Audit trail', 'Audit trail');
    const update = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'access_policy.update' }) });
    await update.waitFor();
    await page.getByRole('rowheader', { name: 'dashboard.sign_in' }).first().waitFor();
    await update.getByText('1 field changed').click();
    const diff = page.getByRole('table', { name: /^Changes of event \d+$/ });
    const nameRow = diff.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'name' }) });
    await expect(nameRow.getByRole('cell').allTextContents()).resolves.toEqual(['audited-before', 'audited-after']);
    await audit(page, 'audit trail');

    await page.getByLabel(/^Action/).fill('access_policy.*');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/\/audit\?action=access_policy/);
    await waitFor('only the access policy events', async () => {
      const headers = await page.getByRole('rowheader').allTextContents();
      return headers.join() === 'access_policy.update,access_policy.create' ? true : undefined;
    });
    await audit(page, 'audit trail (filtered)');

    // A key without the audit scope: no Audit trail in its navigation (the links wait for what the key reaches,
    // every link shown until then); the page opened by its address tells what the key lacks, no events.
    const plain = await unwrap(api.POST('/api_keys', { body: { name: 'no-audit', scopes: ['management'] } }));
    await signOut(page);
    await signIn(page, plain.key);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Access policies', exact: true }).waitFor();
    await nav.getByRole('link', { name: 'Audit trail', exact: true }).waitFor({ state: 'detached' });
    await page.goto('/audit');
    await page.getByRole('heading', { level: 1, name: 'Audit trail' }).waitFor();
    await page.getByText('it needs the "audit" scope').waitFor();
    await audit(page, 'audit trail (no scope)');
    await signOut(page);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('shows each audit exporter’s delivery and its failures; creates, pauses and deletes them; the SCIM token shown once', async () => {
    // A webhook receiver that takes every batch, and a port nothing listens on.
    let received = 0;
    const receiver: Server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received += 1;
        res.end('ok');
      });
    });
    const [up, down] = [await freePort(), await freePort()];
    await new Promise<void>((r) => receiver.listen(up, '127.0.0.1', r));
    try {
      await signIn(page, stack.bootstrapKey);
      await openFromNav(page, 'Audit trail', 'Audit trail');
      await page.getByRole('link', { name: 'Audit exporters' }).click();
      await page.getByRole('heading', { level: 1, name: 'Audit exporters' }).waitFor();
      await page.getByText('No exporter').waitFor();
      await audit(page, 'audit exporters (none)');

      const hmacKey = 'hmac-5d1f93c0-never-shown';
      await page.getByLabel('Name', { exact: true }).fill('siem');
      await page.getByLabel('Kind').selectOption({ label: 'Webhook' });
      await page.getByLabel('URL').fill(`http://127.0.0.1:${up}/hook`);
      const keyField = page.getByLabel(/^HMAC key/);
      expect(await keyField.getAttribute('type')).toBe('password');
      await keyField.fill(hmacKey);
      await page.getByRole('button', { name: 'Create exporter' }).click();
      await page.getByRole('status').filter({ hasText: 'Exporter siem created' }).waitFor();
      await unwrap(
        api.POST('/audit_exporters', {
          body: {
            name: 'unreachable',
            target: { type: 'webhook', url: `http://127.0.0.1:${down}/hook`, secret: 'unused' },
          },
        }),
      );
      const row = (name: string) =>
        page.getByRole('row').filter({ has: page.getByRole('rowheader', { name, exact: true }) });
      // Refreshed until the receiver acknowledged the whole trail and the other exporter failed.
      const cells = await waitFor('the exporters’ delivery shown', async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        const ok = await row('siem').getByRole('cell').allInnerTexts();
        const failing = await row('unreachable').innerText();
        return ok[2] === 'ok' && ok[4] === '0' && /\bfailing\b/.test(failing) && /ECONNREFUSED/.test(failing) && ok;
      });
      expect(received).toBeGreaterThan(0);
      expect(cells.slice(0, 6)).toEqual([
        'Webhook',
        `http://127.0.0.1:${up}/hook`,
        'ok',
        expect.stringMatching(/^#[1-9]\d*$/),
        '0',
        '0',
      ]);
      expect(await page.content()).not.toContain(hmacKey);
      await audit(page, 'audit exporters (delivering, failing)');

      await row('unreachable').getByRole('button', { name: 'Pause unreachable' }).click();
      await page.getByRole('status').filter({ hasText: 'unreachable paused.' }).waitFor();
      await waitFor('paused', async () => /\bdisabled\b/.test(await row('unreachable').innerText()));
      await row('unreachable').getByRole('button', { name: 'Delete unreachable' }).click();
      await page
        .getByRole('group', { name: /^Confirm: Delete unreachable\?/ })
        .getByRole('button', { name: 'Delete unreachable' })
        .click();
      await page.getByRole('status').filter({ hasText: 'unreachable deleted.' }).waitFor();
      expect((await unwrap(api.GET('/audit_exporters'))).data.map((e) => e.name)).toEqual(['siem']);
    } finally {
      await new Promise((r) => receiver.close(r));
    }

    // The SCIM token: none yet; created, its value shown once and working; rotated; deleted.
    const scimUsers = (token: string) =>
      fetch(`${direct}/scim/v2/Users`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    await openFromNav(page, 'External users', 'External users');
    const provisioning = page.getByRole('region', { name: /SCIM/ });
    await provisioning.getByText('No SCIM token').waitFor();
    await provisioning.getByRole('button', { name: 'Create a SCIM token' }).click();
    const shown = page.getByRole('textbox', { name: 'The SCIM token' });
    await shown.waitFor();
    const first = await shown.inputValue();
    expect(await scimUsers(first)).toBe(200);
    await audit(page, 'external users (SCIM token shown once)');
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await provisioning.getByText(first.slice(0, 12)).waitFor();
    expect(await page.content()).not.toContain(first);
    await provisioning.getByRole('button', { name: 'Rotate the SCIM token' }).click();
    await waitFor('the new token', async () => (await shown.count()) > 0 && (await shown.inputValue()) !== first);
    const second = await shown.inputValue();
    expect([await scimUsers(first), await scimUsers(second)]).toEqual([401, 200]);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await provisioning.getByRole('button', { name: 'Delete the SCIM token' }).click();
    await page
      .getByRole('group', { name: /^Confirm: Delete the SCIM token/ })
      .getByRole('button', { name: 'Delete the SCIM token' })
      .click();
    await provisioning.getByText('No SCIM token').waitFor();
    expect(await scimUsers(second)).toBe(401);
    await signOut(page);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('shows least privilege per key: unused grants, the narrowest policy, quotas; proposes it as a change, planned and applied', async () => {
    const { agent, client } = await agentOnExample('lp-agent', 'lp-agent-everything');
    try {
      await waitFor('two get_ticket calls recorded', async () => {
        await client.callTool({ name: 'get_ticket', arguments: { ticket_id: 'none' } });
        const r = await unwrap(
          api.GET('/least_privilege', { params: { query: { principal: `api_key:${agent.id}` } } }),
        );
        return (r.principals[0]?.calls ?? 0) >= 2 ? true : undefined;
      });
    } finally {
      await client.close();
    }
    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'Least privilege', 'Least privilege');
    const row = page.getByRole('row').filter({ hasText: 'API key lp-agent' });
    await row.waitFor();
    // Granted every tool of the server, it used get_ticket only: the others are unused, the narrowest policy names it.
    await row.getByText('search_tickets').waitFor();
    await row.getByText('create_ticket').waitFor();
    expect(await row.getByRole('cell').nth(2).innerText()).toContain('get_ticket');
    expect(await row.getByRole('cell').nth(2).innerText()).not.toContain('search_tickets');
    await row
      .getByText(/calls per (hour|day)/)
      .first()
      .waitFor();
    await audit(page, 'least privilege');
    await row.getByRole('button', { name: 'Propose as a change for API key lp-agent' }).click();
    const proposal = page.getByRole('region', { name: 'Proposal for API key lp-agent' });
    await proposal
      .getByText(/^access-policies\/.+\.yaml$/)
      .first()
      .waitFor();
    // The backtest of the proposal over the period: the two get_ticket calls replayed, none newly refused.
    await proposal.getByRole('button', { name: 'Try on past calls' }).click();
    await proposal.getByText(/\d+ past calls replayed/).waitFor();
    expect(await proposal.locator('[data-change="newlyRefused"]').innerText()).toMatch(/^0 newly refused/);
    await proposal.getByRole('button', { name: 'Plan' }).click();
    const planned = proposal.getByRole('table', { name: 'What applying the proposal changes' });
    await planned.getByRole('row').filter({ hasText: 'access_policy' }).first().waitFor();
    expect(await planned.innerText()).toContain('create');
    await audit(page, 'least privilege (proposal planned)');
    await proposal.getByRole('button', { name: 'Apply the proposal for API key lp-agent' }).click();
    await proposal
      .getByRole('group', { name: /^Confirm: Apply these changes/ })
      .getByRole('button', { name: 'Apply' })
      .click();
    await proposal.getByRole('status').filter({ hasText: 'Applied:' }).waitFor();
    const policies = (await unwrap(api.GET('/access_policies'))).data;
    const proposed = policies.filter(
      (p) => p.name !== 'lp-agent-everything' && p.principals.some((x) => x.value === agent.id),
    );
    expect(proposed.map((p) => p.tools)).toEqual([['get_ticket']]);
    await signOut(page);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('a rule editor’s file agrees with the export of the rule it would save: planned, nothing to change', async () => {
    const key = await unwrap(api.POST('/api_keys', { body: { name: 'editor-agent', scopes: ['runtime'] } }));
    const names = namesOf({ servers: [{ id: example.serverId, name: 'support' }], apiKeys: [key] });
    const approval = { approvers: { apiKeys: [key.id] }, approvals: 1 };
    // The bodies the editors send (log only: they judge the other tests' calls without changing them).
    const policy = {
      name: 'editor-policy',
      principals: [
        { type: 'api_key' as const, value: key.id },
        { type: 'oauth_group' as const, value: 'ops' },
      ],
      servers: [example.serverId],
      tools: ['get_ticket'],
      condition: 'args.ticket_id != "T-9"',
      onFalse: 'require_approval' as const,
      approval,
      enforce: false,
    };
    const quota = {
      name: 'editor-quota',
      counts: 'calls' as const,
      limit: 5,
      window: 'day' as const,
      per: 'api_key' as const,
      match: { tools: ['get_*'], servers: [example.serverId], apiKeys: [key.id] },
      enforce: false,
    };
    const guardrail = {
      name: 'editor-guardrail',
      serverId: example.serverId,
      tools: ['get_ticket'],
      detectors: [{ kind: 'secrets' as const }],
      action: 'block' as const,
      on: ['arguments' as const],
      enforce: false,
    };
    const rules = [
      {
        id: 'editor-rule',
        after: ['untrusted' as const],
        toolLabels: ['public_write' as const],
        action: 'require_approval' as const,
        approval,
        enforce: false,
      },
    ];
    await unwrap(api.POST('/access_policies', { body: policy }));
    await unwrap(api.POST('/quotas', { body: quota }));
    await unwrap(api.POST('/guardrails', { body: guardrail }));
    await unwrap(api.PUT('/session_settings', { body: { ttlSeconds: 600, rules } }));
    const files = [
      policyFile(policy, names),
      quotaFile(quota, names),
      guardrailFile(guardrail, names),
      sessionFile({ ttlSeconds: 600, rules }, names),
    ];
    const plan = await unwrap(api.POST('/workspace_files/plan', { body: { files } }));
    const planned = plan.changes.filter((c) => files.some((f) => f.path === c.file));
    expect(planned.map((c) => c.kind).sort()).toEqual(['access_policy', 'guardrail', 'quota', 'session']);
    // Adopting the saved rule (apply's marker) is all a plan of the editor's file would do: no field differs.
    for (const c of planned) expect({ [c.kind]: c.fields.filter((f) => f !== 'managed') }).toEqual({ [c.kind]: [] });
  });

  it('tries an unsaved quota on past calls from its editor (refusals, an example); the other rule editors too', async () => {
    const { agent, client } = await agentOnExample('bt-agent', 'bt-agent-tickets');
    try {
      for (const id of ['T-1', 'T-2', 'T-3'])
        await client.callTool({ name: 'get_ticket', arguments: { ticket_id: id } });
    } finally {
      await client.close();
    }
    await waitFor('the three calls recorded', async () => {
      const r = await unwrap(api.GET('/execution_records', { params: { query: { key_id: agent.id } } }));
      return r.data.length >= 3 ? true : undefined;
    });
    // What the API answers for the file the editor should send: one get_ticket call a day per key.
    const content = [
      'name: one-a-day',
      'counts: calls',
      'limit: 1',
      'window: day',
      'per: api_key',
      'match: { tools: [get_ticket], servers: [support] }',
    ].join('\n');
    const expected = await unwrap(
      api.POST('/governance/backtest', {
        body: {
          files: [{ path: 'quotas/one-a-day.yaml', content }],
          from: new Date(Date.now() - 7 * 86_400_000).toISOString(),
          to: new Date().toISOString(),
        },
      }),
    );
    expect(expected.changes.newlyRefused.calls).toBeGreaterThanOrEqual(2);

    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'Quotas', 'Quotas');
    const form = page.getByRole('region', { name: 'Create a quota' });
    await form.getByLabel('Name', { exact: true }).fill('one-a-day');
    await form.getByLabel('Limit', { exact: true }).fill('1');
    await form.getByLabel('Per', { exact: true }).selectOption('day');
    await form.getByLabel('One counter for each').selectOption('api_key');
    await form.getByLabel('Tools (names or patterns with *, separated by commas)').fill('get_ticket');
    await form.getByLabel('support', { exact: true }).check();
    await form.getByRole('button', { name: 'Try on past calls' }).click();
    await form.getByText(/\d+ past calls replayed/).waitFor();
    const refused = await form.locator('[data-change="newlyRefused"]').innerText();
    expect(refused).toMatch(new RegExp(`^${expected.changes.newlyRefused.calls} newly refused \\(e\\.g\\. `));
    expect(expected.changes.newlyRefused.examples.slice(0, 3).some((id) => refused.includes(id))).toBe(true);
    await audit(page, 'quotas (tried on past calls)');
    // Nothing was saved: trying is not creating.
    expect((await unwrap(api.GET('/quotas'))).data.map((q) => q.name)).not.toContain('one-a-day');
    // The session settings' editor tries them as they stand (the previous case's log-only rule, its approver by name).
    await openFromNav(page, 'Session rules', 'Session rules');
    const session = page.getByRole('region', { name: 'Change the session settings' });
    await session.getByRole('button', { name: 'Try on past calls' }).click();
    await session.getByText(/\d+ past calls replayed/).waitFor();
    expect(await session.locator('[data-change="newlyRefused"]').innerText()).toMatch(/^0 newly refused/);
    // The server's editor tries the tools a person confirms first: get_ticket checked asks each of its calls.
    await page.goto(`/servers/${example.serverId}/edit`);
    await page.locator('#tool-get_ticket-confirm').check();
    await page.getByRole('button', { name: 'Try on past calls' }).click();
    await page.getByText(/\d+ past calls replayed/).waitFor();
    const asked = await page.locator('[data-change="newlyAskedToConfirm"]').innerText();
    expect(Number(/^(\d+) newly asked to confirm/.exec(asked)?.[1])).toBeGreaterThanOrEqual(3);
    // The policy and guardrail editors have the button too (disabled until the rule has a name).
    for (const [nav, region] of [
      ['Access policies', 'Create an access policy'],
      ['Guardrails', 'Create a guardrail'],
    ]) {
      await openFromNav(page, nav!, nav!);
      const button = page.getByRole('region', { name: region }).getByRole('button', { name: 'Try on past calls' });
      expect(await button.isDisabled()).toBe(true);
    }
    await signOut(page);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('shows the event subscriptions on the Events page (a callback by its origin only) and a subscription’s deliveries', async () => {
    // A webhook subscription as an edge keeps it (docs/events.md "Subscriptions in Redis"), with a failed delivery's
    // record as the worker writes it.
    const workspaceId = (await unwrap(api.GET('/workspaces/current'))).id;
    const id = 'sub_dashboard0events0subscription';
    const redis = stackRedis(stack);
    await redis.connect();
    await redis.hset(
      subscriptionsKey(example.instanceId),
      id,
      JSON.stringify({
        v: 1,
        id,
        workspaceId,
        serverId: example.serverId,
        instanceId: example.instanceId,
        name: 'ticket_opened',
        arguments: {},
        principal: { keyId: 'dashboard-key' },
        delivery: 'webhook',
        callback: { url: 'https://receiver.example/hooks/secret-path', secretSealed: 'sealed-secret-of-dashboard' },
        createdAt: Date.now(),
        expiresAt: Date.now() + 3_600_000,
      }),
    );
    redis.disconnect();
    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'Events', 'Events');
    const row = page.getByRole('row').filter({ hasText: 'ticket_opened' });
    await row.getByText('https://receiver.example').waitFor();
    expect(await page.content()).not.toContain('secret-path');
    await audit(page, 'events');
    await row.getByRole('link', { name: 'ticket_opened' }).click();
    await page.getByRole('heading', { level: 2, name: `Deliveries of ${id}` }).waitFor();
    await page.getByText('No webhook delivery recorded').waitFor();
    await page.getByRole('heading', { level: 2, name: 'Refused inbound deliveries' }).waitFor();
    await audit(page, 'events (a subscription opened)');
    await signOut(page);
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('lists change requests; one opened shows its diff; its requester is refused, another approver applies it', async () => {
    const second = await unwrap(api.POST('/api_keys', { body: { name: 'second admin', scopes: ['management'] } }));
    // The requester: a key of its own beside the second admin's (a key the requester created never decides its
    // changes: the bootstrap key created both).
    const requesterKey = await unwrap(
      api.POST('/api_keys', {
        body: { name: 'change requester', scopes: ['management', 'runtime', 'admin', 'audit'] },
      }),
    );
    const requester = createManagementClient(stack.controlPlaneUrl, requesterKey.key);
    // Off (the default): the page says so, never that changes wait.
    await signIn(page, requesterKey.key);
    await openFromNav(page, 'Change requests', 'Change requests');
    await page.getByText('Four eyes on loosening is off: every change applies at once').waitFor();
    await signOut(page);
    const q = await unwrap(
      api.POST('/quotas', {
        body: { name: 'four-eyes-quota', match: { tools: ['get_ticket'] }, counts: 'calls', limit: 3, window: 'hour' },
      }),
    );
    await unwrap(
      api.PUT('/change_approvals/settings', {
        body: { enabled: true, approvers: { apiKeys: [second.id] }, approvals: 1, expiresInSeconds: 3600 },
      }),
    );
    const held = await requester.PATCH('/quotas/{id}', { params: { path: { id: q.id } }, body: { limit: 30 } });
    expect(held.response.status).toBe(202);
    const id = (held.data as unknown as { changeRequest: { id: string } }).changeRequest.id;

    // The requester: the request listed and opened, its exact change as a diff; approving it is refused.
    await signIn(page, requesterKey.key);
    await openFromNav(page, 'Change requests', 'Change requests');
    await page.getByText('Four eyes on loosening is on: a change that loosens a rule').waitFor();
    const row = page.getByRole('row').filter({ hasText: `PATCH /quotas/${q.id}` });
    await row.getByText('limit', { exact: true }).waitFor();
    await audit(page, 'change requests (pending)');
    await row.getByRole('link', { name: `PATCH /quotas/${q.id}` }).click();
    await page.getByRole('heading', { level: 1, name: `Change request PATCH /quotas/${q.id}` }).waitFor();
    const diff = page.getByLabel(/^The change PATCH/);
    await diff.getByText('-   "limit": 3').waitFor();
    await diff.getByText('+   "limit": 30').waitFor();
    await audit(page, 'change request (opened)');
    await page.getByRole('button', { name: `Approve the change PATCH /quotas/${q.id}` }).click();
    await page.getByRole('alert').filter({ hasText: 'the requester of a change never approves' }).waitFor();
    expect((await unwrap(api.GET('/quotas/{id}', { params: { path: { id: q.id } } }))).limit).toBe(3);
    // A key made on the API keys page waits too (a new identity): its value shown once, its request linked.
    await openFromNav(page, 'API keys', 'API keys');
    await page.locator('#key-name').fill('held-key');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { level: 3, name: 'Key held-key waits for approval' }).waitFor();
    expect(await page.locator('#new-key').inputValue()).toMatch(/^tp_/);
    await page.getByRole('link', { name: 'its change request' }).waitFor();
    await audit(page, 'api keys (a key waiting for approval)');
    await signOut(page);

    // Another approver the setting names: approved, applied once.
    await signIn(page, second.key);
    await page.goto(`/change-requests/${id}`);
    await page.getByRole('heading', { level: 1, name: `Change request PATCH /quotas/${q.id}` }).waitFor();
    await page.getByLabel('Comment (optional)').fill('fine for the launch');
    await page.getByRole('button', { name: `Approve the change PATCH /quotas/${q.id}` }).click();
    await page.getByRole('status').filter({ hasText: 'Approved: the change is applied.' }).waitFor();
    await page.getByText('Approved by API key second admin: fine for the launch').waitFor();
    expect((await unwrap(api.GET('/quotas/{id}', { params: { path: { id: q.id } } }))).limit).toBe(30);
    await openFromNav(page, 'Change requests', 'Change requests');
    await page.getByLabel('State').selectOption('applied');
    await page
      .getByRole('row')
      .filter({ hasText: `PATCH /quotas/${q.id}` })
      .waitFor();
    await signOut(page);
    // Four eyes off again (itself a loosening: approved by the second admin).
    const off = await requester.PUT('/change_approvals/settings', {
      body: { enabled: false, approvers: {}, approvals: 1, expiresInSeconds: 3600 },
    });
    const offId = (off.data as unknown as { changeRequest: { id: string } }).changeRequest.id;
    const approver = createManagementClient(stack.controlPlaneUrl, second.key);
    await unwrap(approver.POST('/change_requests/{id}/approve', { params: { path: { id: offId } }, body: {} }));
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('adds an enterprise IdP through its page: listed, its client secret shown once; a narrowed token on the keys page', async () => {
    await signIn(page, stack.bootstrapKey);
    await openFromNav(page, 'Enterprise IdPs', 'Enterprise IdPs');
    await page.getByText('No enterprise IdP yet.').waitFor();
    await audit(page, 'enterprise IdPs (none)');
    await page.getByLabel('Name', { exact: true }).fill('acme-sso');
    await page.getByLabel('Issuer', { exact: true }).fill('https://idp.acme.example');
    await page.getByLabel('JWKS URL', { exact: true }).fill('https://idp.acme.example/jwks');
    await page.getByLabel('Client id', { exact: true }).fill('agents');
    await page.getByRole('button', { name: 'Add IdP' }).click();
    await page.getByRole('status').filter({ hasText: 'Added acme-sso.' }).waitFor();
    const secret = await page.getByLabel('The client secret of acme-sso').inputValue();
    expect(secret).toMatch(/^tpidp_/);
    const row = page.getByRole('row').filter({ hasText: 'acme-sso' });
    await row.getByText('https://idp.acme.example/jwks').waitFor();
    await row.getByText('sub', { exact: true }).waitFor();
    await audit(page, 'enterprise IdPs (added, secret shown once)');
    const listed = await unwrap(api.GET('/enterprise_idps'));
    expect(listed.data.map((i) => [i.name, i.issuer, i.clientId, i.userClaim])).toEqual([
      ['acme-sso', 'https://idp.acme.example', 'agents', 'sub'],
    ]);
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await expect(page.getByLabel('The client secret of acme-sso').count()).resolves.toBe(0);
    expect(await page.content()).not.toContain(secret);

    // A token narrowed from a key (ADR 0084) shows on the API keys page: its chain of actors, tools and expiry.
    const holder = await unwrap(api.POST('/api_keys', { body: { name: 'delegator', scopes: ['runtime'] } }));
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: holder.key,
      subject_token_type: 'urn:toolplane:params:oauth:token-type:api_key',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      authorization_details: JSON.stringify([{ type: 'toolplane_delegation', tools: ['get_ticket'], actor: 'reader' }]),
    });
    const exchanged = await fetch(`${stack.edgeUrls[0]}/oauth/token-exchange`, { method: 'POST', body: form });
    expect(exchanged.status).toBe(200);
    const narrowed = ((await exchanged.json()) as { access_token: string }).access_token;
    // The edge's audit event reaches the control plane's trail on its own time.
    await waitFor('the token.narrowed event in the trail', async () => {
      const r = await unwrap(api.GET('/audit_events', { params: { query: { action: 'token.narrowed' } } }));
      return r.data.some((e) => e.actor.id === holder.id) ? true : undefined;
    });
    await openFromNav(page, 'API keys', 'API keys');
    const tokens = page.getByRole('table', { name: 'Narrowed tokens made from the workspace’s keys' });
    const token = tokens.getByRole('row').filter({ hasText: 'delegator' });
    await token.getByText(`api_key:${holder.id} → reader`).waitFor();
    await token.getByText('get_ticket', { exact: true }).waitFor();
    await audit(page, 'api keys (a narrowed token)');
    expect(await page.content()).not.toContain(narrowed);
    await signOut(page);
    expect(pageProblems).toEqual([]);
  }, 120_000);
});
