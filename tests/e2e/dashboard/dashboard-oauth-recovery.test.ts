// The sign-in page when the OAuth issuer has a bad minute (issue #26): the control plane discovers the issuer's
// endpoints when it serves the page; while discovery fails the page says so, keeps API-key sign-in working, and
// asks again by itself (with backoff) until the issuer answers, then shows the issuer's button without a reload.
// Real stack, a local authorization server whose metadata answers 503 while `discoveryDown`, Debian's Chromium.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Stack } from '@toolplane/cli';
import type { Browser, Page } from 'playwright-core';
import { audit, buildDashboard, dashboardEnv, launchChromium, newDashboardPage } from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { scaled, waitFor } from '../../helpers/wait.ts';
import { startAuthorizationServer, type LocalAuthorizationServer } from '../../helpers/authorization-server.ts';

const clientId = 'toolplane-dashboard';

let as: LocalAuthorizationServer;
let stack: Stack;
let browser: Browser;
let page: Page;
let pageProblems: string[];

beforeAll(async () => {
  const build = buildDashboard();
  browser = await launchChromium();
  as = await startAuthorizationServer();
  as.discoveryDown = true;
  ({ stack } = await startTestStack('dashboard-oauth-recovery', {
    logLevel: 'warn',
    serviceEnv: {
      'control-plane': {
        OAUTH_ISSUER: as.issuer,
        OAUTH_JWKS_URL: `${as.issuer}/jwks`,
        OAUTH_AUDIENCE: 'https://toolplane.test/api',
        OAUTH_CLIENT_ID: clientId,
        ...dashboardEnv(build)['control-plane'],
      },
    },
  }));
  as.clients.push({ clientId, redirectUri: `${stack.controlPlaneUrl}/oauth/callback` });
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await as?.close();
});

const discoveries = () => as.requests.filter((r) => r.startsWith('/.well-known/')).length;

describe('the sign-in page while the OAuth issuer cannot be discovered', () => {
  it('says so, keeps API-key sign-in, retries by itself and shows the issuer once it answers, without a reload', async () => {
    await page.goto('/');
    await page
      .getByRole('status')
      .getByText(/Sign-in with your organisation’s account is unavailable right now/)
      .waitFor();
    await page.getByLabel('API key').waitFor();
    expect(await page.getByRole('heading', { name: 'Your organisation’s account' }).count()).toBe(0);
    await audit(page, 'sign-in while the issuer is down');
    // A mark on this document: it must still be there when the button appears (no reload, no navigation).
    await page.evaluate(() => ((window as unknown as { keptAcrossRetries: boolean }).keptAcrossRetries = true));
    // The page asks again by itself: the control plane tries the issuer again (after its 10 s error cache).
    const before = discoveries();
    await waitFor(
      'the page to make the control plane ask the issuer again',
      () => discoveries() > before,
      scaled(60_000),
    );
    expect(await page.getByRole('heading', { name: 'Your organisation’s account' }).count()).toBe(0);
    as.discoveryDown = false;
    await page.getByRole('heading', { level: 2, name: 'Your organisation’s account' }).waitFor({ timeout: 90_000 });
    await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).waitFor();
    expect(await page.getByText(/unavailable right now/).count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { keptAcrossRetries?: boolean }).keptAcrossRetries)).toBe(
      true,
    );
    // The button works: it leads to the issuer's authorization endpoint with this client.
    as.user = { sub: 'alice', claims: {}, deny: true };
    await page.getByRole('button', { name: `Sign in with ${new URL(as.issuer).host}` }).click();
    await page
      .getByRole('alert')
      .getByText(/access_denied/)
      .waitFor();
    expect(as.requests.some((r) => r.startsWith('/authorize?') && r.includes(`client_id=${clientId}`))).toBe(true);
    expect(pageProblems).toEqual([]);
  });
});
