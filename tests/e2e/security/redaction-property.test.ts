import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Stack } from '@toolplane/cli';
import { createManagementClient, type ManagementClient, unwrap } from '@toolplane/client';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { startTestStack, yamlBody } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { dumpPostgres, dumpRedis } from '../../helpers/output-search.ts';

// Redaction as a property of the real stack (issue #27, 1). Generated credential values (printable
// ASCII and beyond) go into every place a credential goes: an OpenAPI connector's apiKey in the query,
// a cookie and a header, HTTP Basic and Bearer, a descriptor connector's header template, and a Flower
// workflow's `$secrets` in a URL path, in a URL query, in a query parameter, in a header template, in a
// JSON body and in a form body. The upstream echoes everything back (as JSON and as plain text), a debug
// session is open on every server, and tools are called through the MCP SDK client. Then every output
// is searched for every value in every form (as is, any percent-encoding in either hex case, `+` for
// a space, JSON-escaped once or twice, base64 / base64url, the Basic credentials sent): tool results,
// execution records (API, with their debug captures), the services' logs, exported spans, every command
// Redis saw (job payloads, results, pub/sub) and what it holds, every PostgreSQL row.
// The cases come from a seed, printed with any failure (REDACTION_SEED=<seed> replays them).

const CASES = 32;
const seed = Number(process.env.REDACTION_SEED ?? Math.floor(Math.random() * 2 ** 31));

// ---- The values: a unique core (so nothing else in the outputs can look like one) inside random text ----

const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const special = fc.constantFrom(...`!'()*~ %+&=#?/\\"<>{}[]|^\`$;:,@.-_`.split(''));
const latin1 = fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c));
const beyond = fc.oneof(
  fc.constantFrom('€', '漢', '🙂', '\u2028', 'ü'),
  fc.integer({ min: 0x100, max: 0xd7ff }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
);
const core = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')),
  minLength: 8,
  maxLength: 8,
});
const around = (unit: fc.Arbitrary<string>) => fc.string({ unit, minLength: 1, maxLength: 10 });
const valueOf = (unit: fc.Arbitrary<string>) =>
  fc.tuple(around(unit), core, around(unit)).map(([a, b, c]) => a + b + c);
/** Anything (URLs and bodies). */
const anyValue = valueOf(fc.oneof({ arbitrary: printable, weight: 3 }, special, latin1, beyond));
/** What a header can carry: printable ASCII and latin1, no surrounding whitespace (HTTP drops it). */
const headerValue = valueOf(fc.oneof({ arbitrary: printable, weight: 3 }, special, latin1)).filter(
  (v) => v.trim() === v,
);
const caseArb = fc.record({
  style: fc.constantFrom('json', 'raw'),
  v: anyValue,
  hv: headerValue,
  user: headerValue.filter((u) => !u.includes(':')),
  pv: headerValue,
});
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;
const cases: Case[] = fc.sample(caseArb, { seed, numRuns: CASES });
const secretsOf = (c: Case) => ({ v: c.v, hv: c.hv, user: c.user, pv: c.pv });

// ---- The oracle: decoded views of a text, searched for the values ----

const pctDecode = (s: string) =>
  s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'));
const jsonShort: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const jsonUnescape = (s: string) =>
  s.replace(/\\(u[0-9A-Fa-f]{4}|["\\/bfnrt])/g, (_, e: string) =>
    e[0] === 'u' && e.length === 5 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (jsonShort[e] ?? e),
  );

function views(text: string): [string, string][] {
  const t = text.replace(/\[redacted\]/gi, '\u0000');
  const out: [string, string][] = [];
  for (const [name, j] of [
    ['', t],
    ['json-escaped ', jsonUnescape(t)],
    ['json-escaped twice ', jsonUnescape(jsonUnescape(t))],
  ] as const) {
    out.push([`${name}as is`, j]);
    if (j.includes('%')) out.push([`${name}percent-encoded`, pctDecode(j)]);
    if (j.includes('+')) out.push([`${name}form-encoded`, pctDecode(j.replace(/\+/g, ' '))]);
  }
  return out;
}

const needles = cases.flatMap((c, i) => [
  ...Object.entries(secretsOf(c)).flatMap(([name, value]) => [
    { what: `case ${i} ${name} ${JSON.stringify(value)}`, value, decoded: true },
    { what: `case ${i} ${name} (base64)`, value: Buffer.from(value).toString('base64').replace(/=+$/, '') },
    { what: `case ${i} ${name} (base64url)`, value: Buffer.from(value).toString('base64url') },
  ]),
  {
    what: `case ${i} Basic credentials`,
    value: Buffer.from(`${c.user}:${c.pv}`).toString('base64').replace(/=+$/, ''),
  },
]);

/** The values (of any case) a text holds, and in which form. */
function leaksIn(text: string): string[] {
  const v = views(text);
  const found: string[] = [];
  for (const n of needles) {
    if (!n.decoded) {
      if (v[0]![1].includes(n.value)) found.push(n.what);
      continue;
    }
    const form = v.find(([, view]) => view.includes(n.value));
    if (form) found.push(`${n.what}, ${form[0]}`);
  }
  return found;
}

// ---- The stack, the echoing upstream, the receivers ----

let stack: Stack;
let api: ManagementClient;
let redis: RedisHandle;
let monitorBase: Redis | undefined;
let monitor: Redis | undefined;
let commandsSeen = 0;
const commandLeaks: string[] = [];
let echo: Server;
let echoUrl: string;
/** What reached the upstream, per request (path, headers as received, body), by the operation's path segment. */
let received: { operation: string; text: string }[] = [];
let otlp: Server;
const exportedSpans: string[] = [];
const clients: Record<'openapi' | 'descriptor' | 'flow', Client> = {} as never;
const ids = { openapiInstance: '', descriptorInstance: '', flowServer: '', servers: [] as string[] };
const results: string[] = [];

const openapiDocument = (url: string) => {
  const style = `{ name: style, in: path, required: true, schema: { type: string, enum: [json, raw] } }`;
  const op = (id: string, security: string) =>
    `  /{style}/${id}:\n    post: { operationId: ${id}, security: [${security}], parameters: [${style}], responses: { '200': { description: echo } } }`;
  return `openapi: 3.0.3
info: { title: Echo, version: 1.0.0 }
servers: [{ url: '${url}' }]
components:
  securitySchemes:
    qkey: { type: apiKey, in: query, name: k }
    ckey: { type: apiKey, in: cookie, name: ck }
    hkey: { type: apiKey, in: header, name: X-Api-Key }
    basic: { type: http, scheme: basic }
    bearer: { type: http, scheme: bearer }
paths:
${op('keys', '{ qkey: [], ckey: [] }')}
${op('header', '{ hkey: [] }')}
${op('basic', '{ basic: [] }')}
${op('bearer', '{ bearer: [] }')}
`;
};

const descriptor = (url: string) => `
metadata: { name: Echo template, slug: echo-template, version: "1.0.0" }
authentication:
  - type: api_key
    fields: [{ key: api_key, field_type: secret, required: true, secret: true }]
operations:
  - operation_id: tmpl
    endpoint: "${url}/json/tmpl"
    method: POST
    auth_type_ref: api_key
    auth_headers: { X-Tmpl: "Token {api_key} end" }
mcp_config:
  enabled: true
  server_name: echo-template
  server_description: Echo
  route_mappings:
    - { operation_id: tmpl, mcp_tool_name: tmpl, mcp_tool_description: "Echo the request back" }
`;

const flowDefinition = (url: string) =>
  JSON.stringify({
    flower: '0.1',
    id: 'echo-flow',
    flows: [
      {
        id: 'flow',
        inputs: {
          type: 'object',
          properties: { style: { type: 'string', enum: ['json', 'raw'] } },
          required: ['style'],
        },
        steps: [
          {
            id: 'a',
            request: {
              method: 'POST',
              url: `${url}/{$inputs.style}/p/{$secrets.WF_V}/x?raw={$secrets.WF_V}`,
              query: { k: '$secrets.WF_V' },
              headers: { 'X-Tmpl': 'Token $secrets.WF_H end' },
              body: { k: '$secrets.WF_V', note: 'json' },
            },
            outputs: { echo: '$response.body' },
          },
          {
            id: 'b',
            request: {
              method: 'POST',
              url: `${url}/{$inputs.style}/form`,
              headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
              body: { f: '$secrets.WF_V', note: 'form' },
            },
            outputs: { echo: '$response.body' },
          },
        ],
        outputs: { a: '$steps.a.outputs.echo', b: '$steps.b.outputs.echo' },
      },
    ],
  });

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'redaction', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': stack.bootstrapKey } } }),
  );
  return client;
}

beforeAll(async () => {
  echo = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(
        req.rawHeaders.flatMap((v, i, a) => (i % 2 === 0 ? [[v.toLowerCase(), a[i + 1]!]] : [])),
      );
      const body = Buffer.concat(chunks).toString('utf8');
      const wire = { method: req.method, url: req.url!, headers, body };
      const parsed = new URL(req.url!, 'http://x');
      const decoded = (s: string) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      };
      const authorization = headers.authorization ?? '';
      const echoed = {
        ...wire,
        path: decoded(parsed.pathname),
        query: Object.fromEntries(parsed.searchParams),
        form: Object.fromEntries(new URLSearchParams(body)),
        basic: /^basic /i.test(authorization) ? Buffer.from(authorization.slice(6), 'base64').toString() : undefined,
      };
      received.push({ operation: parsed.pathname.split('/')[2] ?? '', text: JSON.stringify(echoed) });
      if (parsed.pathname.startsWith('/raw/'))
        res
          .writeHead(200, { 'content-type': 'text/plain' })
          .end(`${req.method} ${req.url}\n${Object.entries(headers).join('\n')}\n\n${body}\n${JSON.stringify(echoed)}`);
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(echoed));
    });
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  otlp = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exportedSpans.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => otlp.listen(0, '127.0.0.1', r));
  // A Redis of this file's own: MONITOR sees every command of this stack (job payloads, results, messages).
  redis = await startRedisServer();
  monitorBase = new Redis(redis.url);
  monitor = await monitorBase.monitor();
  monitor.on('monitor', (_time: string, args: string[]) => {
    commandsSeen++;
    const text = args.join(' ');
    for (const leak of leaksIn(text)) commandLeaks.push(`${leak}: ${text.slice(0, 300)}`);
  });
  ({ stack } = await startTestStack('redaction', {
    redisUrl: redis.url,
    logLevel: 'debug',
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(otlp.address() as AddressInfo).port}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
    // Every call reads the sealed store: a value changed by the previous request is the one sent.
    serviceEnv: { worker: { SECRETS_CACHE_TTL_MS: '0' } },
  }));
  api = createManagementClient(stack.controlPlaneUrl, stack.bootstrapKey);

  const first = cases[0]!;
  const oa = await unwrap(
    api.POST('/connectors', {
      body: {
        kind: 'openapi',
        slug: 'echo',
        entry: 'openapi.yaml',
        files: { 'openapi.yaml': openapiDocument(echoUrl) },
      },
    }),
  );
  expect((oa as { credentialFields: { key: string }[] }).credentialFields.map((f) => f.key).sort()).toEqual(
    ['bearer', 'ckey', 'hkey', 'password', 'qkey', 'username'].sort(),
  );
  const oaInstance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: oa.id, name: 'echo-openapi', credentials: openapiCredentials(first) },
    }),
  );
  const desc = await unwrap(api.POST('/connectors', yamlBody(descriptor(echoUrl))));
  const descInstance = await unwrap(
    api.POST('/connector_instances', {
      body: { createServer: false, connector_id: desc.id, name: 'echo-template', credentials: { api_key: first.hv } },
    }),
  );
  const oaServer = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'echo-openapi', mode: 'NORMAL', connectorInstanceId: oaInstance.id } }),
  );
  const descServer = await unwrap(
    api.POST('/mcp_manager', { body: { name: 'echo-template', mode: 'NORMAL', connectorInstanceId: descInstance.id } }),
  );
  const flowServer = await unwrap(api.POST('/mcp_manager', { body: { name: 'echo-flow', mode: 'NORMAL' } }));
  await unwrap(
    api.POST('/mcp_servers/{id}/deploy', {
      params: { path: { id: flowServer.id } },
      body: { definition: flowDefinition(echoUrl) },
    }),
  );
  Object.assign(ids, {
    openapiInstance: oaInstance.id,
    descriptorInstance: descInstance.id,
    flowServer: flowServer.id,
    servers: [oaServer.id, descServer.id, flowServer.id],
  });
  // A debug session on every server: the records keep (redacted) headers and bodies.
  for (const id of ids.servers)
    await unwrap(
      api.POST('/mcp_manager/{id}/debug_sessions', { params: { path: { id } }, body: { duration_minutes: 30 } }),
    );
  clients.openapi = await connect(oaServer.url);
  clients.descriptor = await connect(descServer.url);
  clients.flow = await connect(flowServer.url);
}, 120_000);

afterAll(async () => {
  for (const c of Object.values(clients)) await c?.close().catch(() => undefined);
  monitor?.disconnect();
  monitorBase?.disconnect();
  try {
    await stack?.stop();
  } finally {
    await redis?.stop();
    for (const server of [echo, otlp]) {
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    }
  }
});

function openapiCredentials(c: Case) {
  return { qkey: c.v, ckey: c.v, hkey: c.hv, username: c.user, password: c.pv, bearer: c.hv };
}

/** The case's values, where each goes (independent resources: all at once). */
async function setValues(c: Case): Promise<void> {
  await Promise.all([
    unwrap(
      api.PATCH('/connector_instances/{id}', {
        params: { path: { id: ids.openapiInstance } },
        body: { credentials: openapiCredentials(c) },
      }),
    ),
    unwrap(
      api.PATCH('/connector_instances/{id}', {
        params: { path: { id: ids.descriptorInstance } },
        body: { credentials: { api_key: c.hv } },
      }),
    ),
    ...(
      [
        ['WF_V', c.v],
        ['WF_H', c.hv],
      ] as const
    ).map(([name, value]) =>
      unwrap(
        api.PUT('/mcp_servers/{id}/secrets/{name}', {
          params: { path: { id: ids.flowServer, name } },
          body: { value },
        }),
      ),
    ),
  ]);
}

/** The tools called in each case, the values each sends, and the path segments of its requests. */
const calls = [
  { client: 'openapi', tool: 'keys', sends: ['v'], operations: ['keys'] },
  { client: 'openapi', tool: 'header', sends: ['hv'], operations: ['header'] },
  { client: 'openapi', tool: 'basic', sends: ['user', 'pv'], operations: ['basic'] },
  { client: 'openapi', tool: 'bearer', sends: ['hv'], operations: ['bearer'] },
  { client: 'descriptor', tool: 'tmpl', sends: ['hv'], operations: ['tmpl'] },
  { client: 'flow', tool: 'flow', sends: ['v', 'hv'], operations: ['p', 'form'] },
] as const;

describe(`redaction on the real stack (seed ${seed})`, () => {
  it(`generated values in every credential place never reach a tool result (${CASES} cases)`, async () => {
    for (const [i, c] of cases.entries()) {
      await setValues(c);
      received = [];
      // The case's calls at once (each reaches its own path of the upstream).
      const answers = await Promise.all(
        calls.map(async (call) =>
          JSON.stringify(
            await clients[call.client].callTool({
              name: call.tool,
              arguments: call.tool === 'tmpl' ? {} : { style: c.style },
            }),
          ),
        ),
      );
      for (const [k, call] of calls.entries()) {
        const result = answers[k]!;
        results.push(result);
        const where = `case ${i} of seed ${seed} (REDACTION_SEED=${seed}), tool ${call.tool}`;
        // The values did go out (decoded from what the upstream received), and the upstream echoed them.
        const got = received.filter((r) => (call.operations as readonly string[]).includes(r.operation));
        for (const name of call.sends) {
          const value = c[name];
          const sent = got.some((r) => views(r.text).some(([, view]) => view.includes(value)));
          if (!sent) throw new Error(`${where}: the upstream never received ${name} ${JSON.stringify(value)}`);
        }
        expect(result.toLowerCase()).toContain('[redacted]');
        const leaks = leaksIn(result);
        if (leaks.length > 0) throw new Error(`${where}: the tool result holds ${leaks.join('; ')}:\n${result}`);
      }
    }
  }, 300_000);

  it('nor an execution record, a debug capture, a log line, a span, Redis or PostgreSQL', async () => {
    // Every call's record (API), with its debug capture (the calls the first test made: all of them when it passed).
    const expected = results.length;
    expect(expected).toBeGreaterThan(0);
    const summaries = await waitFor('every execution record', async () => {
      const all: { id: string; server_id?: string }[] = [];
      for (const server of ids.servers) {
        let cursor: string | undefined;
        do {
          const page = await unwrap(
            api.GET('/execution_records', {
              params: { query: { server_id: server, limit: 200, ...(cursor ? { cursor } : {}) } },
            }),
          );
          all.push(...page.data);
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
      }
      return all.length >= expected ? all : undefined;
    });
    const records: string[] = [];
    let captures = 0;
    for (const s of summaries) {
      const detail = await unwrap(api.GET('/execution_records/{id}', { params: { path: { id: s.id } } }));
      if ((detail as { debug?: unknown }).debug) captures++;
      records.push(JSON.stringify(detail));
    }
    expect(captures).toBe(expected);

    // Stopping the services flushes their logs and span exports.
    await Promise.all(
      stack.processes.map(
        (p) =>
          new Promise<void>((r) =>
            p.child.exitCode !== null ? r() : (p.child.once('exit', () => r()), p.child.kill('SIGTERM')),
          ),
      ),
    );
    const places: Record<string, string> = {
      'tool results': results.join('\n'),
      'execution records (API)': records.join('\n'),
      spans: exportedSpans.join('\n'),
    };
    for (const p of stack.processes) places[`log of ${p.name}`] = p.output();
    places.redis = (await dumpRedis(stack)).join('\n');
    const { tables, rows } = await dumpPostgres(stack);
    places.postgres = rows.join('\n');

    const leaks = Object.entries(places).flatMap(([where, text]) => leaksIn(text).map((l) => `${where}: ${l}`));
    expect({ seed, leaks, redisCommands: commandLeaks }).toEqual({ seed, leaks: [], redisCommands: [] });
    // The search covered real output.
    expect(commandsSeen).toBeGreaterThan(expected);
    expect(places['log of worker-1']!.length).toBeGreaterThan(0);
    expect(places.spans).toContain('toolplane-worker');
    expect(tables).toContain('execution_records');
  }, 300_000);
});
