// Reachability in the dashboard, in a real browser against the real stack (Debian's Chromium driven by
// playwright-core, axe-core on each page): "Who can reach this" on a tool of its server's page (each key and person
// the access policies name, the condition of their calls and the solver's answers), and a change request's impact on
// an access policy (who newly reaches which tool, under which condition). A missing Chromium fails the file (no skip).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { registerTicketExample, type RegisteredExample, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import type { Browser, Page } from 'playwright-core';
import {
  audit,
  buildDashboard,
  dashboardEnv,
  launchChromium,
  newDashboardPage,
  signIn,
} from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let tickets: RegisteredExample;
let browser: Browser, page: Page, pageProblems: string[];

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  upstream = await startTicketSystem({ apiKey: 'k' });
  ({ stack, api } = await startTestStack('dashboard-reach', { logLevel: 'warn', serviceEnv: dashboardEnv(build) }));
  tickets = await registerTicketExample(api, upstream.url, 'k', 'tickets');
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await upstream?.close();
});

describe('who can reach a tool, on its server’s page', () => {
  it('lists each principal with its condition and the solver’s answers', async () => {
    const key = async (name: string) => unwrap(api.POST('/api_keys', { body: { name, scopes: ['runtime'] } }));
    const [small, never] = [await key('support-eu'), await key('nowhere')];
    const grant = (name: string, id: string, condition: string) =>
      unwrap(
        api.POST('/access_policies', {
          body: {
            name,
            principals: [{ type: 'api_key', value: id }],
            servers: [tickets.serverId],
            tools: ['search_tickets'],
            condition,
          },
        }),
      );
    await grant('small-searches', small.id, 'args.limit <= 10');
    await grant('never', never.id, 'args.limit > 100 && args.limit < 50');

    await signIn(page, stack.bootstrapKey);
    await page.goto(`/servers/${tickets.serverId}`);
    await page.getByRole('heading', { level: 1, name: 'tickets' }).waitFor();
    await page.getByRole('button', { name: 'Who can reach search_tickets' }).click();
    const table = page.getByRole('table', { name: 'Who can reach search_tickets' });
    const row = (who: string) => table.getByRole('row').filter({ has: page.getByRole('rowheader', { name: who }) });
    await row('API key support-eu').waitFor();
    expect(await row('API key support-eu').innerText()).toMatch(/args\.limit <= 10\s+yes, e\.g\. \{"limit":/);
    expect(await row('API key nowhere').innerText()).toContain('no (unsat)');
    await audit(page, 'who can reach a tool');
    expect(pageProblems).toEqual([]);
  }, 120_000);

  it('a change request on an access policy shows what it newly lets through', async () => {
    const policies = await unwrap(api.GET('/access_policies'));
    const never = policies.data.find((p) => p.name === 'never')!;
    await unwrap(
      api.PUT('/change_approvals/settings', { body: { enabled: true, approvals: 1, expiresInSeconds: 3600 } }),
    );
    const held = await api.PATCH('/access_policies/{id}', {
      params: { path: { id: never.id } },
      body: { condition: 'args.limit < 5' },
    });
    expect(held.response.status).toBe(202);
    const id = (held.data as unknown as { changeRequest: { id: string } }).changeRequest.id;

    await page.goto(`/change-requests/${id}`);
    await page.getByRole('heading', { level: 1, name: `Change request PATCH /access_policies/${never.id}` }).waitFor();
    await page.getByRole('button', { name: 'What does it newly let through?' }).click();
    const table = page.getByRole('table', { name: 'Newly reachable' });
    await table.waitFor();
    const rows = table.getByRole('row').filter({ has: page.getByRole('rowheader') });
    expect(await rows.count()).toBe(1);
    const text = await rows.first().innerText();
    expect(text).toContain('API key nowhere');
    expect(text).toContain('(args.limit < 5) && !(args.limit > 100 && args.limit < 50)');
    expect(text).toMatch(/yes, e\.g\. \{"limit":/);
    await audit(page, 'a change request’s impact');
    expect(pageProblems).toEqual([]);
  }, 120_000);
});
