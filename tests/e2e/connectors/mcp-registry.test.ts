import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { registerTicketExample, repoRoot, type RegisteredExample, type Stack } from '@toolplane/cli';
import { ApiError, unwrap, type ManagementClient } from '@toolplane/client';
import { startTicketSystem, type TicketSystem } from '@toolplane/examples';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { sourceCli } from '../../helpers/cli.ts';
import { startLocalRegistry, type LocalRegistry } from '../../helpers/registry-server.ts';
import { startTestStack } from '../../helpers/stack.ts';

/**
 * The MCP Registry both ways. Consumed: a local registry (the v0.1 read paths over a fixture list, on 127.0.0.1,
 * read by a worker) searched and added from through the API and the CLI. Served: the workspace's servers as a
 * registry, its answers validated against the registry's own OpenAPI document (tests/fixtures/mcp-registry), and a
 * client that reads it reaches each server at the URL it lists.
 */

// `yaml` is a dependency of packages/openapi, not of tests/: load that copy (as tests/deploy/lib.ts does).
const yaml = createRequire(join(repoRoot, 'packages/openapi/package.json'))('yaml') as { parse(s: string): unknown };
const registryDocument = yaml.parse(
  readFileSync(join(repoRoot, 'tests/fixtures/mcp-registry/openapi.yaml'), 'utf8'),
) as { $id: string };

let stack: Stack;
let api: ManagementClient;
let upstream: TicketSystem;
let registry: LocalRegistry;
let tickets: RegisteredExample;
let second: RegisteredExample;

/** The fixture list: the stack's own ticket server (streamable HTTP, a secret key header), an SSE twin, a package. */
const fixtureServers = () => [
  {
    name: 'io.example.local/tickets',
    description: 'Tickets of the example system',
    title: 'Tickets',
    version: '1.2.0',
    remotes: [
      { type: 'sse', url: `${tickets.mcpUrl}/sse-unused` },
      {
        type: 'streamable-http',
        url: tickets.mcpUrl,
        headers: [{ name: 'x-api-key', description: 'Your Toolplane key', isRequired: true, isSecret: true }],
      },
    ],
  },
  {
    name: 'io.example.local/tickets-tagged',
    description: 'The same, with a fixed client header',
    version: '0.1.0',
    remotes: [
      {
        type: 'streamable-http',
        url: second.mcpUrl,
        headers: [
          { name: 'x-client', value: 'toolplane', isSecret: false },
          { name: 'x-api-key', isRequired: true, isSecret: true },
        ],
      },
    ],
  },
  {
    name: 'io.example.local/packaged',
    description: 'Runs locally only',
    version: '3.0.0',
    packages: [{ registryType: 'npm', identifier: '@example/packaged', transport: { type: 'stdio' } }],
  },
];

beforeAll(async () => {
  upstream = await startTicketSystem({ apiKey: 'k' });
  registry = await startLocalRegistry(fixtureServers);
  ({ stack, api } = await startTestStack('mcp-registry'));
  tickets = await registerTicketExample(api, upstream.url, 'k', 'tickets');
  second = await registerTicketExample(api, upstream.url, 'k', 'tickets-two');
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await registry?.close();
  await upstream?.close();
});

const failure = (call: Promise<unknown>) =>
  call.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => {
      if (!(err instanceof ApiError)) throw err;
      return err;
    },
  );

describe('the registry consumed', () => {
  it('defaults to the public registry, and a workspace names its own source', async () => {
    const defaults = await unwrap(api.GET('/registry/settings'));
    expect(defaults).toEqual({
      id: expect.any(String),
      sourceUrl: null,
      namespace: null,
      effective: { sourceUrl: 'https://registry.modelcontextprotocol.io', namespace: 'local.toolplane' },
    });
    const set = await unwrap(
      api.PUT('/registry/settings', { body: { sourceUrl: `${registry.url}/`, namespace: 'com.example.acme' } }),
    );
    expect(set.effective).toEqual({ sourceUrl: registry.url, namespace: 'com.example.acme' });
    const bad = await failure(
      unwrap(api.PUT('/registry/settings', { body: { sourceUrl: 'ftp://x', namespace: 'a/b' } })),
    );
    expect(bad.status).toBe(422);
    expect(bad.issues.map((e) => e.path).sort()).toEqual(['/namespace', '/sourceUrl']);
  });

  it('searches the source through a worker: each server with the remote add would attach, paged', async () => {
    const found = await unwrap(api.GET('/registry/search', { params: { query: { q: 'tickets' } } }));
    expect(found.source).toEqual({ url: registry.url });
    expect(found.data.map((s) => s.name)).toEqual(['io.example.local/tickets', 'io.example.local/tickets-tagged']);
    expect(found.data[0]).toMatchObject({
      version: '1.2.0',
      remote: {
        type: 'streamable-http',
        url: tickets.mcpUrl,
        headers: [{ name: 'x-api-key', description: 'Your Toolplane key', isRequired: true, isSecret: true }],
      },
      unsupported: null,
      externalServerId: null,
    });
    expect(registry.requests).toContain('/v0.1/servers?limit=20&version=latest&search=tickets');
    const first = await unwrap(api.GET('/registry/search', { params: { query: { limit: 2 } } }));
    expect(first.nextCursor).toBe('2');
    const rest = await unwrap(api.GET('/registry/search', { params: { query: { limit: 2, cursor: '2' } } }));
    expect(rest.data).toEqual([
      expect.objectContaining({
        name: 'io.example.local/packaged',
        remote: null,
        unsupported: expect.stringMatching(/packages only/),
      }),
    ]);
    expect(rest.nextCursor).toBeNull();
  });

  it('adds a server in one step: its URL, its secret header listed to fill, then set and listed', async () => {
    const added = await unwrap(api.POST('/registry/add', { body: { name: 'io.example.local/tickets' } }));
    expect(added.registry).toEqual({ source: registry.url, name: 'io.example.local/tickets', version: '1.2.0' });
    expect(added.remote).toEqual({ type: 'streamable-http', url: tickets.mcpUrl });
    expect(added.externalMcpServer).toMatchObject({ name: 'tickets', url: tickets.mcpUrl, headerNames: [] });
    // No value invented: the secret header waits, and the unauthenticated listing failed.
    expect(added.externalMcpServer.listError).toEqual(expect.any(String));
    expect(added.toFill).toEqual([
      expect.objectContaining({
        name: 'x-api-key',
        isSecret: true,
        state: 'to_fill',
        set: expect.stringContaining('PATCH'),
      }),
    ]);
    const filled = await unwrap(
      api.PATCH('/external_mcp_servers/{id}', {
        params: { path: { id: added.externalMcpServer.id } },
        body: { headers: { 'x-api-key': stack.bootstrapKey } },
      }),
    );
    expect(filled.listError).toBeNull();
    expect(filled.tools.map((t) => t.name).sort()).toEqual([...tickets.tools].sort());
    const again = await unwrap(api.GET('/registry/search', { params: { query: { q: 'tickets' } } }));
    expect(again.data[0]!.externalServerId).toBe(added.externalMcpServer.id);

    expect(
      (await failure(unwrap(api.POST('/registry/add', { body: { name: 'io.example.local/tickets' } })))).status,
    ).toBe(409);
    expect(
      (await failure(unwrap(api.POST('/registry/add', { body: { name: 'io.example.local/nothing' } })))).status,
    ).toBe(404);
    const packaged = await failure(unwrap(api.POST('/registry/add', { body: { name: 'io.example.local/packaged' } })));
    expect(packaged.status).toBe(422);
    expect(packaged.issues[0]?.message).toMatch(/packages only/);
  });

  it('the CLI searches and adds, header values from stdin, the fixed header from the registry', async () => {
    const cli = sourceCli(stack);
    const { stdout } = await cli('registry', 'search', 'tagged');
    expect(stdout).toContain('io.example.local/tickets-tagged');
    expect(stdout).toContain('x-api-key (secret)');
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [
          '--conditions=@toolplane/source',
          join(repoRoot, 'packages/cli/src/main.ts'),
          'registry',
          'add',
          'io.example.local/tickets-tagged',
          '--version',
          '0.1.0',
          '--as',
          'tagged',
          '--header',
          'x-api-key',
          '--json',
        ],
        { env: { ...process.env, TOOLPLANE_URL: stack.controlPlaneUrl, TOOLPLANE_API_KEY: stack.bootstrapKey } },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
      child.stdin!.end(`x-api-key=${stack.bootstrapKey}\n`);
    });
    const added = JSON.parse(out) as {
      externalMcpServer: { name: string; headerNames: string[]; listError: null };
      toFill: unknown[];
      headers: { name: string; state: string }[];
    };
    expect(added.externalMcpServer).toMatchObject({
      name: 'tagged',
      headerNames: ['x-api-key', 'x-client'],
      listError: null,
    });
    expect(added.toFill).toEqual([]);
    expect(added.headers.map((h) => `${h.name}:${h.state}`)).toEqual(['x-client:from_registry', 'x-api-key:given']);
    expect(out).not.toContain(stack.bootstrapKey);
  });
});

describe('the registry served', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema(registryDocument);
  const schema = (name: string) => ajv.getSchema(`${registryDocument.$id}#/components/schemas/${name}`)!;
  const read = async (path: string) => {
    const res = await fetch(`${stack.controlPlaneUrl}/api/v1/registry${path}`, {
      headers: { 'x-api-key': stack.bootstrapKey },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const valid = (name: string, value: unknown) => {
    const validate = schema(name);
    expect(validate(value) ? [] : validate.errors).toEqual([]);
  };

  it('lists the workspace servers as the official schema describes, paged by cursor, searchable', async () => {
    const list = await read('/v0.1/servers');
    expect(list.status).toBe(200);
    valid('ServerList', list.body);
    const servers = (list.body as { servers: { server: { name: string; remotes: { url: string }[] } }[] }).servers;
    expect(servers.map((s) => s.server.name)).toEqual(['com.example.acme/tickets', 'com.example.acme/tickets-two']);
    expect(servers[0]!.server.remotes[0]!.url).toBe(tickets.mcpUrl);

    const first = await read('/v0.1/servers?limit=1');
    valid('ServerList', first.body);
    const next = (first.body.metadata as { nextCursor: string }).nextCursor;
    const second = await read(`/v0.1/servers?limit=1&cursor=${next}`);
    expect((second.body.servers as { server: { name: string } }[]).map((s) => s.server.name)).toEqual([
      'com.example.acme/tickets-two',
    ]);
    expect(second.body.metadata).toEqual({ count: 1 });
    expect(((await read('/v0.1/servers?search=TWO')).body.servers as unknown[]).length).toBe(1);
    expect(((await read('/v0.1/servers?version=9.9.9')).body.servers as unknown[]).length).toBe(0);
    expect(((await read('/v0.1/servers?updated_since=2999-01-01T00:00:00Z')).body.servers as unknown[]).length).toBe(0);
  });

  it('answers a server’s versions and one version (latest or its own), 404 otherwise', async () => {
    const name = encodeURIComponent('com.example.acme/tickets');
    const versions = await read(`/v0.1/servers/${name}/versions`);
    valid('ServerList', versions.body);
    const latest = await read(`/v0.1/servers/${name}/versions/latest`);
    expect(latest.status).toBe(200);
    valid('ServerResponse', latest.body);
    const version = (latest.body.server as { version: string }).version;
    expect((await read(`/v0.1/servers/${name}/versions/${version}`)).status).toBe(200);
    expect((await read(`/v0.1/servers/${name}/versions/0.0.1`)).status).toBe(404);
    expect((await read(`/v0.1/servers/${encodeURIComponent('org.other/tickets')}/versions`)).status).toBe(404);
  });

  it('a client that reads the registry reaches each server at its URL with an MCP client (tools/list)', async () => {
    const list = (await read('/v0.1/servers')).body as {
      servers: {
        server: { remotes: { type: string; url: string; headers: { name: string; isSecret: boolean }[] }[] };
      }[];
    };
    for (const { server } of list.servers) {
      const [remote] = server.remotes;
      expect(remote!.headers).toEqual([
        expect.objectContaining({ name: 'x-api-key', isSecret: true, isRequired: true }),
      ]);
      const client = new Client({ name: 'registry-reader', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(remote!.url), {
          requestInit: { headers: { [remote!.headers[0]!.name]: stack.bootstrapKey } },
        }),
      );
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual([...tickets.tools].sort());
      await client.close();
    }
  });
});
