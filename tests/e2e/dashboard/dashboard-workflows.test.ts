// The dashboard's workflows editor and a record's Jaeger link, in a real browser against the real stack (Debian's
// Chromium driven by playwright-core, every page state checked by axe-core): a document is validated as it is typed
// (its problems at their lines), an Arazzo document gets its OpenAPI source from an uploaded reference file and a
// source URL override, is deployed and called over MCP; its record links to its trace in Jaeger (JAEGER_UI_URL).
// A missing Chromium fails the file (no skip).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import type { Browser, Page } from 'playwright-core';
import { audit, buildDashboard, launchChromium, newDashboardPage, openFromNav, signIn } from '../../helpers/browser.ts';
import { startTestStack } from '../../helpers/stack.ts';
import { postMcp } from '../../helpers/mcp.ts';
import { waitFor } from '../../helpers/wait.ts';

const JAEGER_UI_URL = 'http://127.0.0.1:16686';

let stack: Stack;
let api: ManagementClient;
/** The API the Arazzo workflow calls: `GET /v1/items/{id}` → `{ id, name }`. */
let upstream: Server;
let upstreamUrl: string;
/** An OTLP/HTTP receiver standing in for Jaeger's collector port: tracing on, so that records carry a trace id. */
let receiver: Server;
const exportedTraceIds = new Set<string>();

/** Chromium, its dashboard page, and what the page reported as broken (uncaught errors, CSP refusals). */
let browser: Browser, page: Page, pageProblems: string[];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

/** The dashboard build this file's control plane serves. */
let build: string;

beforeAll(async () => {
  build = buildDashboard();
  browser = await launchChromium();
  upstream = createServer((req, res) => {
    const id = /^\/v1\/items\/([^/?]+)$/.exec(req.url ?? '')?.[1];
    if (req.method !== 'GET' || !id) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, name: `item ${id}` }));
  });
  upstreamUrl = await listen(upstream);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans?: { scopeSpans?: { spans?: { traceId?: string }[] }[] }[];
        };
        for (const rs of payload.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) exportedTraceIds.add(s.traceId ?? '');
      } catch {
        // not OTLP JSON: nothing to note
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: await listen(receiver), OTEL_BSP_SCHEDULE_DELAY: '100' };
  ({ stack, api } = await startTestStack('dashboard-workflows', {
    logLevel: 'warn',
    serviceEnv: { 'control-plane': { ...otel, JAEGER_UI_URL, DASHBOARD_DIR: build }, edge: otel, worker: otel },
  }));
  ({ page, problems: pageProblems } = await newDashboardPage(browser, stack.controlPlaneUrl));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await new Promise((r) => (upstream ? upstream.close(r) : r(undefined)));
  await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
});

const flower = (extra: string) =>
  [
    'flower: "0.1"',
    'id: items-flow',
    'flows:',
    '  - id: one_item',
    '    description: One item',
    '    steps:',
    '      - id: get',
    '        request:',
    '          method: GET',
    `          url: ${upstreamUrl}/v1/items/1`,
    ...(extra ? [extra] : []),
    '',
  ].join('\n');

/** The OpenAPI source of the Arazzo document; its server is replaced by a source URL override. */
const openapi = [
  'openapi: 3.1.0',
  'info: { title: items, version: "1" }',
  'servers: [{ url: "http://items.invalid/v1" }]',
  'paths:',
  '  /items/{id}:',
  '    get:',
  '      operationId: getItem',
  '      parameters:',
  '        - { name: id, in: path, required: true, schema: { type: string } }',
  "      responses: { '200': { description: ok, content: { application/json: { schema: { type: object } } } } }",
  '',
].join('\n');

const arazzo = [
  'arazzo: 1.0.1',
  'info: { title: items, version: "1" }',
  'sourceDescriptions:',
  '  - { name: items, url: ./items.openapi.yaml, type: openapi }',
  'workflows:',
  '  - workflowId: itemDetails',
  '    inputs: { type: object, properties: { id: { type: string } }, required: [id] }',
  '    steps:',
  '      - stepId: get',
  '        operationId: getItem',
  '        parameters:',
  '          - { name: id, in: path, value: $inputs.id }',
  '        successCriteria: [{ condition: $statusCode == 200 }]',
  '        outputs: { name: $response.body#/name }',
  '    outputs: { name: $steps.get.outputs.name }',
  '',
].join('\n');

describe('the dashboard’s workflows editor', () => {
  it('validates as one types, deploys an Arazzo document with a reference, and links its record to Jaeger', async () => {
    await unwrap(api.POST('/mcp_manager', { body: { name: 'items', mode: 'NORMAL' } }));
    const dryRuns: string[] = [];
    page.on('request', (req) => {
      if (req.method() === 'POST' && /\/deploy\?dry_run=true$/.test(req.url())) dryRuns.push(req.url());
    });

    // Sign in, and the Jaeger UI's address is in the page without any API call.
    await signIn(page, stack.bootstrapKey);
    expect(await page.locator('meta[name="toolplane-jaeger-ui"]').getAttribute('content')).toBe(JAEGER_UI_URL);
    await openFromNav(page, 'Workflows', 'Workflows');
    await page.getByLabel('Server', { exact: true }).selectOption({ label: 'items' });
    const editor = page.getByLabel(/Flower 0.1 or Arazzo/);
    await editor.waitFor();
    await audit(page, 'workflows (empty)');

    // An invalid Flower document, typed key by key: checked once typing pauses, nothing pressed; the problem at
    // its line, the line marked.
    const invalid = flower('          whatever: 1');
    await editor.pressSequentially(invalid);
    const issues = page.getByRole('list', { name: 'Problems of the workflow document' });
    await issues.waitFor();
    expect(await issues.innerText()).toMatch(/^11:11: .*\(\/flows\/0\/steps\/0\/request\/whatever\)$/m);
    expect(await page.locator('.docview li.marked').evaluateAll((els) => els.map((e) => e.dataset.line))).toEqual([
      '11',
    ]);
    // Debounced: far fewer checks than keystrokes (typing pauses of the machine may add one or two).
    expect(dryRuns.length).toBeGreaterThanOrEqual(1);
    expect(dryRuns.length).toBeLessThan(invalid.length / 20);
    await audit(page, 'workflows (invalid, live)');

    // Fixed: valid, still without pressing anything. A check still running when the text changes again is aborted
    // (its answer could only be stale): the first check after this edit is held unanswered.
    const dryRun = /\/deploy\?dry_run=true$/;
    let held = 0;
    await page.route(dryRun, async (route) => {
      if (held++ > 0) await route.continue();
    });
    const aborted = page.waitForEvent('requestfailed', (r) => dryRun.test(r.url()));
    await editor.fill(flower('          whatever: 2'));
    await waitFor('the held check', () => held === 1);
    await editor.fill(flower(''));
    await page
      .getByRole('status')
      .filter({ hasText: 'Valid flower document: it would give the tools one_item' })
      .waitFor();
    await expect(issues.count()).resolves.toBe(0);
    expect((await aborted).failure()?.errorText).toMatch(/ABORTED/);
    expect(held).toBe(2);
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await audit(page, 'workflows (valid, live)');

    // An Arazzo document without its OpenAPI source: the problem at the source description's line.
    await editor.fill(arazzo);
    await issues.waitFor();
    expect(await issues.innerText()).toMatch(/^4:\d+: .*\(\/sourceDescriptions\/0\S*\)$/m);
    await audit(page, 'workflows (Arazzo, reference missing)');

    // The reference uploaded (with a stray file, removed again): the document becomes valid.
    await page.getByLabel('Add reference files').setInputFiles([
      { name: 'items.openapi.yaml', mimeType: 'application/yaml', buffer: Buffer.from(openapi) },
      { name: 'stray.yaml', mimeType: 'application/yaml', buffer: Buffer.from('openapi: 3.1.0\n') },
    ]);
    const files = page.getByRole('list', { name: 'Reference files' });
    await files.getByText('stray.yaml').waitFor();
    expect(await files.getByRole('listitem').count()).toBe(2);
    await audit(page, 'workflows (references listed)');
    await page.getByRole('button', { name: 'Remove stray.yaml' }).click();
    await files.getByText('stray.yaml').waitFor({ state: 'detached' });
    await files.getByText('items.openapi.yaml').waitFor();
    const valid = page
      .getByRole('status')
      .filter({ hasText: 'Valid arazzo document: it would give the tools itemDetails' });
    await valid.waitFor();

    // The source's server replaced by the upstream's address; a bad URL is refused first, at its field's path.
    await page.getByRole('button', { name: 'Add a source URL override' }).click();
    await page.getByLabel('Source name').fill('items');
    await page.getByLabel('Base URL').fill('not a url');
    await page
      .getByRole('list', { name: 'Problems of the request' })
      .getByRole('listitem')
      .filter({ hasText: 'must be an http(s) URL (/servers/items)' })
      .waitFor();
    await audit(page, 'workflows (override refused)');
    await page.getByLabel('Base URL').fill(`${upstreamUrl}/v1`);
    await valid.waitFor();
    await audit(page, 'workflows (Arazzo, valid)');

    // Deployed: in the history.
    const body = JSON.parse(
      (await Promise.all([
        page.waitForRequest((r) => r.method() === 'POST' && /\/deploy$/.test(r.url())),
        page.getByRole('button', { name: 'Deploy' }).click(),
      ]).then(([req]) => req.postData())) ?? '{}',
    ) as { references?: { location: string; content: string }[]; servers?: Record<string, string> };
    expect(body.references).toEqual([{ location: 'items.openapi.yaml', content: openapi }]);
    expect(body.servers).toEqual({ items: `${upstreamUrl}/v1` });
    await page.getByRole('status').filter({ hasText: 'Deployed: the server now has the tools itemDetails' }).waitFor();
    await page.getByRole('row').filter({ hasText: 'active' }).waitFor();
    await audit(page, 'workflows (deployed)');

    // The tool through MCP, on the override's server.
    const server = await unwrap(api.GET('/mcp_manager/{id}', { params: { path: { id: 'items' } } }));
    const res = await postMcp(
      server.url,
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'itemDetails', arguments: { id: '42' } } },
      { 'x-api-key': stack.bootstrapKey, 'mcp-protocol-version': '2025-11-25' },
    );
    const answer = (await res.json()) as { result: { isError?: boolean; structuredContent?: unknown } };
    expect(answer.result.isError).toBeFalsy();
    expect(answer.result.structuredContent).toEqual({ name: 'item 42' });
    const record = await waitFor('the itemDetails record with its trace id', async () => {
      const listed = await unwrap(api.GET('/execution_records', { params: { query: { server_id: server.id } } }));
      const found = listed.data.find((r) => r.tool === 'itemDetails');
      return found && unwrap(api.GET('/execution_records/{id}', { params: { path: { id: found.id } } }));
    });
    expect(record.trace_id).toMatch(/^[0-9a-f]{32}$/);
    await waitFor('the trace at the collector', () => exportedTraceIds.has(record.trace_id!));

    // Its record: a link to the trace in Jaeger.
    await openFromNav(page, 'Execution records', 'Execution records');
    await page.getByRole('row').filter({ hasText: 'itemDetails' }).getByRole('link').click();
    await page.getByRole('heading', { level: 2, name: 'Timeline' }).waitFor();
    const jaeger = page.getByRole('link', { name: /Open the trace in Jaeger/ });
    expect(await jaeger.getAttribute('href')).toBe(`${JAEGER_UI_URL}/trace/${record.trace_id}`);
    expect(await jaeger.getAttribute('rel')).toBe('noopener noreferrer');
    await audit(page, 'record (Jaeger link)');
    expect(pageProblems).toEqual([]);
  }, 180_000);
});
