// Each role's first minutes in the dashboard, in Debian's Chromium against the real stack: people signed in with the
// deployment's OAuth issuer (tests/helpers/authorization-server.ts) under the workspace's role mapping, and a key with
// only the `approve` scope. Each lands where their role works and walks every page their navigation shows: no
// request of the walk is refused (403), so nothing shown leads to a page they may not use. A missing Chromium fails
// the file.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { createManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import type { Browser, Page } from 'playwright-core';
import { buildDashboard, dashboardEnv, launchChromium, newDashboardPage } from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';
import { waitFor } from '../../helpers/wait.ts';

const audience = 'https://toolplane.test/api';
const clientId = 'toolplane-dashboard';
const scopes = 'toolplane:management toolplane:audit toolplane:approve';

let as: LocalAuthorizationServer;
let stack: Stack;
let upstream: TicketSystem;
let browser: Browser;
let page: Page;
let pageProblems: string[];
let approverKey: string;
let example: RegisteredExample;
/** The id of a record of one call of the example server. */
let recordId: string;
/** Every request the page sent that the control plane refused with 403, since the last `refused.length = 0`. */
const refused: string[] = [];

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  as = await startAuthorizationServer();
  upstream = await startTicketSystem({ apiKey: 'ticket-key' });
  let api;
  ({ stack, api } = await startTestStack('dashboardroles', {
    serviceEnv: {
      'control-plane': {
        OAUTH_ISSUER: as.issuer,
        OAUTH_JWKS_URL: `${as.issuer}/jwks`,
        OAUTH_AUDIENCE: audience,
        OAUTH_CLIENT_ID: clientId,
        ...dashboardEnv(build)['control-plane'],
      },
    },
  }));
  as.clients.push({ clientId, redirectUri: `${stack.controlPlaneUrl}/oauth/callback` });
  example = await registerTicketExample(api, upstream.url, 'ticket-key', 'support');
  const admin = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);
  await unwrap(
    admin.PUT('/role_mappings', {
      body: {
        assignments: [
          { subject: 'ada', roles: ['admin'] },
          { subject: 'otto', roles: ['operator'] },
          { subject: 'aldo', roles: ['auditor'] },
          { subject: 'vera', roles: ['viewer'] },
        ],
      },
    }),
  );
  recordId = await oneCall(api);
  approverKey = (await unwrap(admin.POST('/api_keys', { body: { name: 'approver', scopes: ['approve'] } }))).key;
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
  page.on('response', (res) => {
    if (res.status() === 403) refused.push(`${res.request().method()} ${new URL(res.url()).pathname}`);
  });
}, 180_000);

/** One call of the example server's `search_tickets` by a runtime key granted it: its record's id. */
async function oneCall(api: ReturnType<typeof createManagementClient>): Promise<string> {
  const agent = await unwrap(api.POST('/api_keys', { body: { name: 'agent', scopes: ['runtime'] } }));
  const principals = [{ type: 'api_key' as const, value: agent.id }];
  await unwrap(
    api.POST('/access_policies', { body: { name: 'agent', principals, servers: [example.serverId], tools: ['*'] } }),
  );
  const client = new Client({ name: 'dashboard-roles', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${stack.edgeUrls[0]}/mcp/${example.serverId}`), {
      requestInit: { headers: { 'x-api-key': agent.key } },
    }),
  );
  try {
    await client.callTool({ name: 'search_tickets', arguments: {} });
  } finally {
    await client.close();
  }
  return waitFor('the call’s record', async () => {
    const { data } = await unwrap(api.GET('/execution_records', { params: { query: { limit: 1 } } }));
    return data[0]?.id;
  });
}

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await upstream?.close();
  await as?.close();
});

/** Signs in as the person `sub` with the issuer, or with `key`; the page they land on has loaded. */
async function signIn(who: { sub: string } | { key: string }): Promise<void> {
  await page.goto('/');
  if ('key' in who) {
    await page.getByLabel('API key').fill(who.key);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  } else {
    const workspace = (
      await unwrap(createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey).GET('/workspaces/current'))
    ).id;
    as.user = { sub: who.sub, scope: scopes, claims: { toolplane_workspace: workspace } };
    await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).click();
  }
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

/** The page's first heading once nothing on it is loading. */
async function settled(what: string): Promise<string> {
  await page.getByRole('heading', { level: 1 }).first().waitFor();
  await waitFor(`${what} without "Loading…"`, async () => (await page.locator('.loading').count()) === 0);
  return (await page.getByRole('heading', { level: 1 }).first().textContent()) ?? '';
}

/** Opens every page the main navigation shows, in turn: each one's heading, by its link. */
async function walkNavigation(): Promise<Record<string, string>> {
  const nav = page.getByRole('navigation', { name: 'Main' });
  const hrefs = await nav.getByRole('link').evaluateAll((links) => links.map((a) => a.getAttribute('href')!));
  const headings: Record<string, string> = {};
  for (const href of hrefs) {
    await nav.locator(`a[href="${href}"]`).click();
    await waitFor(`${href} opened`, async () => new URL(page.url()).pathname === href);
    headings[href] = await settled(href);
  }
  return headings;
}

async function signOut(): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
}

describe('each role in the dashboard', () => {
  const cases = [
    { role: 'admin', who: { sub: 'ada' }, lands: 'Overview', pages: 25 },
    { role: 'operator', who: { sub: 'otto' }, lands: 'Overview', pages: 23 },
    { role: 'auditor', who: { sub: 'aldo' }, lands: 'Overview', pages: 4 },
    { role: 'viewer', who: { sub: 'vera' }, lands: 'Overview', pages: 22 },
  ] as const;

  it.each(cases)('lands the $role on $lands and leads them to no page they may not use', async (c) => {
    refused.length = 0;
    await signIn(c.who);
    try {
      expect(await settled('the landing page')).toBe(c.lands);
      const headings = await walkNavigation();
      expect(Object.keys(headings)).toHaveLength(c.pages);
      expect(refused).toEqual([]);
    } finally {
      await signOut();
    }
  });

  it('lands a key with only the approve scope on Approvals, with only the approvals’ pages', async () => {
    refused.length = 0;
    await signIn({ key: approverKey });
    try {
      expect(await settled('the landing page')).toBe('Approvals');
      expect(new URL(page.url()).pathname).toBe('/approvals');
      expect(await walkNavigation()).toEqual({ '/approvals': 'Approvals', '/change-requests': 'Change requests' });
      expect(await page.getByRole('button', { name: /Export/ }).count()).toBe(0);
      expect(refused).toEqual([]);
    } finally {
      await signOut();
    }
    expect(pageProblems).toEqual([]);
  });

  it('names the server where the API returns its name: its page’s path, a record’s server', async () => {
    await signIn({ key: stack.bootstrapKey });
    try {
      await page.goto(`/servers/${example.serverId}`);
      await settled('the server');
      expect(await page.locator('.crumbs').innerText()).toBe('MCP servers / support');
      await page.goto(`/records/${recordId}`);
      await settled('the record');
      const facts = page.locator('dl.facts');
      await facts.getByRole('link', { name: 'support', exact: true }).waitFor();
      expect(await page.locator('main').innerText()).not.toContain(example.serverId);
    } finally {
      await signOut();
    }
  });
});
