// The web dashboard (packages/dashboard) in a real browser, for the browser tests (tests/e2e/dashboard/*.test.ts):
// the build the control plane serves, Debian's Chromium driven by playwright-core (a missing Chromium fails the file,
// no skip), a page that collects what it reports as broken, sign-in, axe-core audits and the screenshots' directory.
import { expect } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { tempDir } from './stack.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dashboardDir = join(root, 'packages/dashboard');
const CHROMIUM = '/usr/bin/chromium';

/** What the dashboard's bundle is made of: its package and the workspace packages it bundles from their sources. */
const dashboardInputs = ['packages/dashboard', 'packages/client/src', 'packages/contracts/src', 'pnpm-lock.yaml'];

function hashInputs(): string {
  const hash = createHash('sha256');
  const visit = (path: string) => {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const name of readdirSync(path).sort())
        if (name !== 'node_modules' && name !== 'dist' && !name.startsWith('.')) visit(join(path, name));
    } else hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
  };
  for (const input of dashboardInputs) visit(join(root, input));
  return hash.digest('hex').slice(0, 16);
}

/**
 * A build of this checkout's dashboard that no other test will ever rewrite: `node_modules/.cache/dashboard-builds/
 * <hash of its inputs>`, built once into a private directory and renamed into place whole. Start the stack with it
 * as the control plane's `DASHBOARD_DIR` (`dashboardEnv`). Never `packages/dashboard/dist`: Vite empties its output
 * directory before writing, and a rebuild there under stacks that serve it (the other files of a parallel run) took
 * `index.html` and the lazily loaded chunks away from pages already open. NODE_ENV=production: under jest it is
 * `test`, which would bundle React's development build.
 */
export function buildDashboard(): string {
  const builds = join(root, 'node_modules/.cache/dashboard-builds');
  const dir = join(builds, hashInputs());
  if (existsSync(join(dir, 'index.html'))) return dir;
  mkdirSync(builds, { recursive: true });
  const scratch = mkdtempSync(join(builds, 'building-'));
  execFileSync(
    process.execPath,
    [
      join(dashboardDir, 'node_modules/vite/bin/vite.js'),
      'build',
      '--outDir',
      scratch,
      '--emptyOutDir',
      '--logLevel',
      'warn',
    ],
    { cwd: dashboardDir, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'production' } },
  );
  try {
    renameSync(scratch, dir);
  } catch (err) {
    // Another file built the same inputs first: theirs is as good, and it is in place.
    rmSync(scratch, { recursive: true, force: true });
    if (!existsSync(join(dir, 'index.html'))) throw err;
  }
  return dir;
}

/** The control plane's environment serving `build` (from `buildDashboard`), for `startTestStack`'s `serviceEnv`. */
export function dashboardEnv(build: string): { 'control-plane': Record<string, string> } {
  return { 'control-plane': { DASHBOARD_DIR: build } };
}

/** Launches Debian's Chromium (headless) through playwright-core; throws when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A new 1280×900 page whose relative addresses resolve against `baseUrl` (the control plane), and `problems`: what
 * the page reports as broken (uncaught errors, and anything its Content-Security-Policy refused), collected from now on.
 */
export async function newDashboardPage(browser: Browser, baseUrl: string): Promise<{ page: Page; problems: string[] }> {
  const problems: string[] = [];
  const page = await browser.newPage({ baseURL: baseUrl, viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (err) => problems.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) problems.push(msg.text());
  });
  return { page, problems };
}

/** Opens the dashboard, signs in with `key` and waits for the first page (the overview). */
export async function signIn(page: Page, key: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
}

/** Signs out and waits for the sign-in form. */
export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').waitFor();
}

/**
 * Runs axe-core on the page as it is: no `serious` or `critical` violation (`label` names the page state in the
 * failure). The control plane's CSP refuses inline scripts (`addScriptTag` would be blocked), so axe's source is
 * evaluated through the DevTools protocol instead, leaving the page's policy in force for the app itself.
 */
export async function audit(page: Page, label: string): Promise<void> {
  await page.evaluate(axe.source);
  const result = await page.evaluate(() => (window as unknown as { axe: typeof axe }).axe.run());
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${label}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(bad).toEqual([]);
}

/** Clicks the link `label` of the main navigation and waits for the page's heading. */
export async function openFromNav(page: Page, label: string, heading: string | RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

/**
 * Where the screenshots go, created: docs/images/ (the README's) with UPDATE_SCREENSHOTS=1, else a scratch
 * directory, so that a test run leaves the checkout as it was.
 */
export function screenshotsDir(): string {
  const dir = process.env.UPDATE_SCREENSHOTS === '1' ? join(root, 'docs/images') : tempDir('dashboard-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}
