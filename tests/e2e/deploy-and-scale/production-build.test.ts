import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, repoRoot, serviceNodeOptions, workerNodeOptions, type Stack } from '@toolplane/cli';
import { type ManagementClient, unwrap } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { startTestStack, tempDir } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

// What the images run is what this test runs. scripts/build-service.sh (the script the
// Dockerfile's build stage calls) builds each service's production closure: compiled JavaScript, a
// `pnpm deploy --prod` node_modules, no sources, no dev dependencies. The three services start from those
// directories (`node dist/main.js`, NODE_ENV=production, no source condition) with the AWS Secrets
// Manager backend (moto_server) and OTLP traces to a receiver of this test; then the seed-001 example,
// a Flower and an Arazzo workflow are called through MCP and each call is found in one trace.

const exec = promisify(execFile);
const services = ['control-plane', 'edge', 'worker'] as const;
/**
 * What each image adds to the Node base image, in MB (the closure's files); raise only with a reason. The control
 * plane's 170 → 200 (2026-11-29): the reachability analysis's solver, `z3-solver`'s 35 MB of WebAssembly (ADR 0107).
 */
const sizeBudgetMb: Record<(typeof services)[number], number> = { edge: 70, worker: 85, 'control-plane': 200 };
const UPSTREAM_KEY = `prod-${randomBytes(8).toString('hex')}`;

interface ReceivedSpan {
  service: string;
  traceId: string;
  name: string;
  kind: number;
}

let out: string;
let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let receiver: Server;
const spans: ReceivedSpan[] = [];
const built: Record<string, { ms: number; mb: number }> = {};

/** Bytes of the regular files under `dir` (what the image's COPY copies; hard links counted each time). */
function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(path);
    else if (e.isFile()) total += lstatSync(path).size;
  }
  return total;
}

/** Files under `dir` (outside node_modules) whose name ends with `suffix`. */
function files(dir: string, suffix: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules') found.push(...files(path, suffix));
    else if (e.isFile() && e.name.endsWith(suffix)) found.push(path);
  }
  return found;
}

/** TypeScript to strip (not declarations) in the service and the workspace packages copied into its node_modules. */
function ownTypeScript(dir: string): string[] {
  const own = [
    dir,
    ...readdirSync(join(dir, 'node_modules/@toolplane')).map((p) => join(dir, 'node_modules/@toolplane', p)),
  ];
  return own.flatMap((d) => files(realpathSync(d), '.ts')).filter((f) => !f.endsWith('.d.ts'));
}

function startReceiver(): Promise<string> {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
      const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: {
          resource: { attributes: { key: string; value: { stringValue?: string } }[] };
          scopeSpans: { spans: { traceId: string; name: string; kind: number }[] }[];
        }[];
      };
      for (const rs of payload.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans)
          for (const s of ss.spans) spans.push({ service, traceId: s.traceId, name: s.name, kind: s.kind });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  return new Promise((resolve) =>
    receiver.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}`)),
  );
}

async function connect(url: string, traceId: string): Promise<Client> {
  const client = new Client({ name: 'production-build-e2e', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: {
        headers: {
          'x-api-key': stack.bootstrapKey,
          traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
        },
      },
    }),
  );
  return client;
}

/** Calls one tool under a trace of its own, waits for its spans (edge, worker, upstream request) in that trace. */
async function callTraced(url: string, name: string, args: Record<string, unknown>) {
  const traceId = randomBytes(16).toString('hex');
  const client = await connect(url, traceId);
  try {
    const result = await client.callTool({ name, arguments: args });
    await waitFor(`the spans of the ${name} call (edge, worker, upstream request) in its trace`, () => {
      const mine = spans.filter((s) => s.traceId === traceId);
      const has = (service: string, pred: (s: ReceivedSpan) => boolean) =>
        mine.some((s) => s.service === service && pred(s));
      return has('toolplane-edge', (s) => s.name === `tools/call ${name}`) &&
        has('toolplane-worker', (s) => s.name === 'process tool-invocations') &&
        has('toolplane-worker', (s) => s.kind === 3) // the upstream request (CLIENT)
        ? mine
        : undefined;
    });
    return { result };
  } finally {
    await client.close();
  }
}

function newServer(name: string): Promise<{ id: string; url: string }> {
  return unwrap(api.POST('/mcp_manager', { body: { name, mode: 'NORMAL' } }));
}

beforeAll(async () => {
  if (!process.env.TEST_MOTO_URL)
    throw new Error(
      process.env.TEST_MOTO_ERROR ?? 'TEST_MOTO_URL is not set (tests/setup/global-setup.js starts moto_server)',
    );
  out = tempDir('production-build');
  for (const service of services) {
    const started = Date.now();
    await exec('bash', [join(repoRoot, 'scripts/build-service.sh'), service, join(out, service)], {
      cwd: repoRoot,
      maxBuffer: 64 * 1024 * 1024,
    });
    built[service] = { ms: Date.now() - started, mb: Math.round(dirBytes(join(out, service)) / 1e5) / 10 };
  }
  console.log(JSON.stringify({ figure: 'production build', built }));

  const endpoint = await startReceiver();
  upstream = await startTicketSystem({ apiKey: UPSTREAM_KEY, host: '127.0.0.1' });
  ({ stack, api } = await startTestStack('prodbuild', {
    logLevel: 'warn',
    launch: (service) => ({ args: ['dist/main.js'], cwd: join(out, service) }),
    env: {
      NODE_ENV: 'production',
      SECRETS_BACKEND: 'aws',
      AWS_REGION: 'us-east-1',
      SECRETS_AWS_ENDPOINT: process.env.TEST_MOTO_URL,
      SECRETS_NAME_PREFIX: `toolplane-prodbuild-${randomBytes(4).toString('hex')}/`,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_EC2_METADATA_DISABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
  }));
}, 600_000);

afterAll(async () => {
  await stack?.stop();
  await upstream?.close();
  await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
  if (out) rmSync(out, { recursive: true, force: true }); // about 300 MB
});

describe('the production build (scripts/build-service.sh, as the Dockerfile runs it)', () => {
  it('is compiled JavaScript with production dependencies only, within the image size budgets', () => {
    for (const service of services) {
      const dir = join(out, service);
      expect(existsSync(join(dir, 'dist/main.js'))).toBe(true);
      // No TypeScript to strip: no sources, only declaration files of dependencies.
      expect(ownTypeScript(dir)).toEqual([]);
      expect(readdirSync(join(dir, 'node_modules/@toolplane')).length).toBeGreaterThan(3);
      const modules = readdirSync(join(dir, 'node_modules/.pnpm'));
      for (const dev of ['typescript@', 'jest@', 'eslint@', 'prisma@', '@swc+core@'])
        expect([service, modules.filter((m) => m.startsWith(dev))]).toEqual([service, []]);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string };
      expect(pkg.name).toBe(`@toolplane/${service}`);
      const { mb } = built[service]!;
      expect([
        service,
        mb <= sizeBudgetMb[service] ? 'within budget' : `${mb} MB > ${sizeBudgetMb[service]} MB`,
      ]).toEqual([service, 'within budget']);
    }
    expect(existsSync(join(out, 'control-plane/prisma/migrations'))).toBe(true);
  });

  it('starts every service with the Node options of the image, the worker with those of its manifests (ADR 0031)', () => {
    expect(stack.processes.length).toBeGreaterThanOrEqual(3);
    for (const p of stack.processes) {
      const environ = readFileSync(`/proc/${p.child.pid}/environ`, 'utf8').split('\0');
      expect([p.name, environ.find((v) => v.startsWith('NODE_OPTIONS='))]).toEqual([
        p.name,
        `NODE_OPTIONS=${p.name.startsWith('worker') ? workerNodeOptions : serviceNodeOptions}`,
      ]);
    }
  });

  it('serves the dashboard from the control plane build at /', async () => {
    expect(existsSync(join(out, 'control-plane/dashboard/index.html'))).toBe(true);
    const page = await fetch(`${stack.controlPlaneUrl}/`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    const script = /<script type="module"[^>]* src="([^"]+)"/.exec(html)?.[1];
    expect(script).toMatch(/^\/assets\//);
    expect((await fetch(`${stack.controlPlaneUrl}${script!}`)).status).toBe(200);
  });

  it('runs the seed-001 example with its credential in AWS Secrets Manager, one trace per call', async () => {
    const example = await registerTicketExample(api, upstream.url, UPSTREAM_KEY, 'prodbuild');
    const { result } = await callTraced(example.mcpUrl, 'get_ticket', { ticket_id: 'TCK-1' });
    expect(result.isError).toBeFalsy();
    expect(JSON.stringify(result.content)).toContain('Login page returns 500');
    expect(upstream.requests.at(-1)?.headers['x-api-key']).toBe(UPSTREAM_KEY);
  });

  it('deploys and runs a Flower workflow whose $secrets come from AWS Secrets Manager', async () => {
    const server = await newServer('prodbuild-flower');
    const flower = [
      "flower: '0.1'",
      'id: prodbuild',
      'flows:',
      '  - id: ticket_title',
      '    description: The title of a ticket',
      '    inputs: { properties: { id: { type: string } }, required: [id] }',
      '    steps:',
      '      - id: get',
      '        request:',
      '          method: GET',
      `          url: ${upstream.url}/api/v1/tickets/$inputs.id`,
      '          headers: { X-API-Key: $secrets.API_KEY }',
      '        outputs: { title: $response.body.title }',
      '    outputs: { title: $steps.get.outputs.title }',
    ].join('\n');
    const deployed = await unwrap(
      api.POST('/mcp_servers/{id}/deploy', { params: { path: { id: server.id } }, body: { definition: flower } }),
    );
    expect(deployed.tools).toEqual(['ticket_title']);
    await unwrap(
      api.PUT('/mcp_servers/{id}/secrets/{name}', {
        params: { path: { id: server.id, name: 'API_KEY' } },
        body: { value: UPSTREAM_KEY },
      }),
    );
    const { result } = await callTraced(server.url, 'ticket_title', { id: 'TCK-2' });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ title: 'Export to CSV is slow' });
  });

  it('deploys and runs an Arazzo workflow against its OpenAPI source', async () => {
    const server = await newServer('prodbuild-arazzo');
    const openapi = [
      'openapi: 3.1.0',
      'info: { title: tickets, version: "1" }',
      `servers: [{ url: '${upstream.url}/api/v1' }]`,
      'paths:',
      '  /tickets/{id}:',
      '    get:',
      '      operationId: getTicket',
      '      parameters:',
      '        - { name: id, in: path, required: true, schema: { type: string } }',
      '        - { name: X-API-Key, in: header, required: true, schema: { type: string } }',
      '      responses: { "200": { description: the ticket } }',
    ].join('\n');
    const arazzo = [
      'arazzo: 1.0.1',
      'info: { title: tickets, version: "1" }',
      'sourceDescriptions: [{ name: tickets, url: ./tickets.openapi.yaml, type: openapi }]',
      'workflows:',
      '  - workflowId: ticket-status',
      '    description: The status of a ticket',
      '    inputs: { type: object, properties: { id: { type: string }, key: { type: string } }, required: [id, key] }',
      '    steps:',
      '      - stepId: get',
      '        operationId: getTicket',
      '        parameters:',
      '          - { name: id, in: path, value: $inputs.id }',
      '          - { name: X-API-Key, in: header, value: $inputs.key }',
      '        successCriteria: [{ condition: $statusCode == 200 }]',
      '        outputs: { status: $response.body#/status }',
      '    outputs: { status: $steps.get.outputs.status }',
    ].join('\n');
    const deployed = await unwrap(
      api.POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server.id } },
        body: { definition: arazzo, references: [{ location: './tickets.openapi.yaml', content: openapi }] },
      }),
    );
    expect(deployed.tools).toEqual(['ticket-status']);
    const { result } = await callTraced(server.url, 'ticket-status', { id: 'TCK-3', key: UPSTREAM_KEY });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ status: 'closed' });
  });
});
